"""Params: merged over the provisioner's defaults, only what it accepts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.problems import Problem
from berth.provision import ProvisionError, merge_params


def merge(
    defaults: dict[str, Any] | None, params: dict[str, Any], allowed: list[str] | None = None
) -> dict[str, Any]:
    return merge_params(defaults, params, allowed, resource="db", provisioner="pg")


def refused(
    defaults: dict[str, Any] | None, params: dict[str, Any], allowed: list[str] | None = None
) -> tuple[Problem, ...]:
    """The problems merge_params raises, all of them."""
    with pytest.raises(ProvisionError) as caught:
        merge(defaults, params, allowed)
    return caught.value.problems


def test_deep_merge_over_defaults() -> None:
    defaults = {"storageGB": 10, "tags": {"team": "a", "tier": "small"}, "list": [1, 2]}
    kept = copy.deepcopy(defaults)
    merged = merge(defaults, {"storageGB": 20, "tags": {"tier": "large"}, "list": [3]})
    assert merged == {"storageGB": 20, "tags": {"team": "a", "tier": "large"}, "list": [3]}
    assert defaults == kept


def test_without_allowed_params_only_defaults_may_be_overridden() -> None:
    assert merge({"storageGB": 10}, {"storageGB": 5}) == {"storageGB": 5}
    problems = refused({"storageGB": 10}, {"storageGB": 5, "superuser": True})
    assert [(p.reason, p.message, p.resource) for p in problems] == [
        (
            "ParamNotAllowed",
            "resource 'db' sets params.superuser, which provisioner pg does not accept "
            "(it accepts: storageGB)",
            "db",
        )
    ]


def test_allowed_params_may_add_parameters() -> None:
    merged = merge({"storageGB": 10}, {"extensions": ["pgvector"]}, ["extensions"])
    assert merged == {"storageGB": 10, "extensions": ["pgvector"]}
    problems = refused({"storageGB": 10}, {"storageGB": 1}, ["extensions"])
    assert problems[0].message.endswith("(it accepts: extensions)")


def test_no_params_accepted() -> None:
    problems = refused(None, {"a": 1, "b": 2}, [])
    assert [p.message for p in problems] == [
        "resource 'db' sets params.a, which provisioner pg does not accept (it accepts no params)",
        "resource 'db' sets params.b, which provisioner pg does not accept (it accepts no params)",
    ]


def test_kind_must_match_the_default() -> None:
    problems = refused(
        {"storageGB": 10, "tags": {"a": "b"}, "ha": False},
        {"storageGB": "lots", "tags": ["x"], "ha": 1},
    )
    assert [(p.reason, p.message) for p in problems] == [
        (
            "ParamInvalid",
            "resource 'db' params.ha is a number, but provisioner pg expects a boolean "
            "(its default is False)",
        ),
        (
            "ParamInvalid",
            "resource 'db' params.storageGB is a string, but provisioner pg expects a number "
            "(its default is 10)",
        ),
        (
            "ParamInvalid",
            "resource 'db' params.tags is an array, but provisioner pg expects an object "
            "(its default is an object)",
        ),
    ]


def test_nested_kind_checked_too() -> None:
    problems = refused({"tags": {"size": 1}}, {"tags": {"size": "big", "new": "ok"}})
    assert [p.message for p in problems] == [
        "resource 'db' params.tags.size is a string, but provisioner pg expects a number "
        "(its default is 1)"
    ]


def test_null_means_the_default() -> None:
    merged = merge({"storageGB": 10}, {"storageGB": None})
    assert merged == {"storageGB": 10}


def test_ints_and_floats_are_both_numbers() -> None:
    merged = merge({"cpu": 0.5}, {"cpu": 2})
    assert merged == {"cpu": 2}
