"""The tests' operators run with the chart's rights; the one way to more says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chartrbac import DEFAULT_VALUES, EXAMPLE_CLAIMS, AdminRights, values_key


def test_an_operator_with_the_admins_rights_must_say_why() -> None:
    with pytest.raises(ValueError, match="must say why"):
        AdminRights(Path("kubeconfig"), why="  ")
    assert AdminRights(Path("kubeconfig"), why="creates CRDs").why == "creates CRDs"


def test_the_default_rights_are_the_charts_with_the_example_claims() -> None:
    assert DEFAULT_VALUES == {"rbac": {"claims": [EXAMPLE_CLAIMS]}}
    assert values_key(None) == values_key(DEFAULT_VALUES)
    assert values_key({"ha": {"enabled": True}}) != values_key(None)
