"""Conditions and the kstatus summaries (berth.render.conditions)."""

from __future__ import annotations

from berth.render.conditions import (
    condition,
    find_condition,
    progressing_summary,
    ready_condition,
    ready_summary,
    stalled_summary,
    stamped,
)
from tests.unit.builders import T0, T1


def test_condition_keeps_transition_time_when_status_unchanged() -> None:
    previous = [condition([], "Ready", False, "RollingOut", "1 of 2 updated", T0, 1)]
    again = condition(previous, "Ready", False, "ReplicasUnavailable", "1 of 2 available", T1, 2)
    assert again["lastTransitionTime"] == T0
    # everything else is the new state
    assert again == {
        "type": "Ready",
        "status": "False",
        "reason": "ReplicasUnavailable",
        "message": "1 of 2 available",
        "lastTransitionTime": T0,
        "observedGeneration": 2,
    }


def test_condition_takes_now_when_status_flips() -> None:
    previous = [condition([], "Ready", False, "RollingOut", "m", T0, 1)]
    flipped = condition(previous, "Ready", True, "Ready", "m", T1, 1)
    assert flipped["status"] == "True"
    assert flipped["lastTransitionTime"] == T1


def test_condition_only_looks_at_its_own_type() -> None:
    previous = [condition([], "Stalled", False, "Ready", "m", T0, 1)]
    assert condition(previous, "Ready", False, "RollingOut", "m", T1, 1)["lastTransitionTime"] == T1


# -- the summaries: exactly one of Ready, Reconciling and Stalled is True ------------------------


def test_each_summary_has_exactly_one_of_the_three_true() -> None:
    for verdicts, true in (
        (ready_summary("2 of 2 replicas available"), "Ready"),
        (progressing_summary("RollingOut", "1 of 2 replicas updated"), "Reconciling"),
        (stalled_summary("InvalidSpec", "bad", reconciling_message="waiting"), "Stalled"),
    ):
        assert list(verdicts) == ["Ready", "Reconciling", "Stalled"]
        assert [t for t, said in verdicts.items() if said.status] == [true]


def test_stamped_conditions_keep_their_order_and_transition_times() -> None:
    first = stamped([], progressing_summary("RollingOut", "m"), T0, 1)
    second = stamped(first, ready_summary("done"), T1, 2)
    assert [c["type"] for c in second] == ["Ready", "Reconciling", "Stalled"]
    assert [c["lastTransitionTime"] for c in second] == [T1, T1, T0]
    assert {c["observedGeneration"] for c in second} == {2}


def test_find_condition_and_ready_condition() -> None:
    conditions = stamped([], ready_summary("done"), T0, 1)
    assert find_condition(conditions, "Stalled") == conditions[2]
    assert find_condition(conditions, "Available") is None
    assert find_condition(None, "Ready") is None
    assert ready_condition({"conditions": conditions}) == conditions[0]
    assert ready_condition(None) is None
    assert ready_condition({}) is None
