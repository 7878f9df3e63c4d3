"""The unit tests' builders (tests/unit/builders.py) make what the API server would hold."""

from __future__ import annotations

from berth.api import Environment, Workload
from tests.unit.builders import environment_dict, workload_dict


def test_builders_produce_the_wire_form() -> None:
    assert (
        Environment.model_validate(environment_dict()).model_dump(mode="json", exclude_none=True)
        == environment_dict()
    )
    assert (
        Workload.model_validate(workload_dict()).model_dump(mode="json", exclude_none=True)
        == workload_dict()
    )
