"""Which status changes post a Kubernetes Event (berth.render.events.transitions)."""

from __future__ import annotations

from typing import Any

from berth.problems import Problem
from berth.render.events import transitions
from berth.render.status import Observed, workload_status
from tests.unit.builders import PULLING, T0, T1, T2, deployment, pulling_pods


def status_of(observed: Observed, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    return workload_status(observed, previous, now)


def test_first_not_ready_steps_post_no_event() -> None:
    missing = status_of(Observed(generation=1, environment="e", desired_replicas=2), None, T0)
    assert transitions(None, missing) == []
    rolling = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=0, available=0)),
        missing,
        T1,
    )
    assert transitions(missing, rolling) == []
    waiting = status_of(
        Observed(
            generation=1, environment="e", resources_problem=Problem("OutputsUnavailable", "m")
        ),
        None,
        T0,
    )
    assert transitions(None, waiting) == []


def test_becoming_ready_posts_a_normal_event() -> None:
    rolling = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=0, available=0)),
        None,
        T0,
    )
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), rolling, T1)
    events = transitions(rolling, ready)
    assert len(events) == 1
    assert events[0].reason == "Ready"
    assert events[0].message == "2 of 2 replicas available"
    assert not events[0].warning


def test_ready_from_nothing_posts_an_event() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    assert [e.reason for e in transitions(None, ready)] == ["Ready"]


def test_losing_ready_posts_a_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    degraded = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=1, available=1)),
        ready,
        T1,
    )
    events = transitions(ready, degraded)
    assert len(events) == 1
    assert events[0].reason == "ReplicasUnavailable"
    assert events[0].warning


def test_becoming_stalled_posts_one_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    stalled = status_of(
        Observed(
            generation=2,
            environment="e",
            problem=Problem("ImageNotAllowed", "image x is not allowed"),
            deployment=deployment(),
        ),
        ready,
        T1,
    )
    events = transitions(ready, stalled)
    # one event, for the Stalled reason; losing Ready is the same news
    assert len(events) == 1
    assert events[0].reason == "ImageNotAllowed"
    assert events[0].warning
    assert "image x is not allowed" in events[0].message


def test_stalled_from_the_start_posts_a_warning() -> None:
    stalled = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    events = transitions(None, stalled)
    assert [(e.reason, e.warning) for e in events] == [("InvalidSpec", True)]


def test_stalled_reason_change_posts_a_new_warning() -> None:
    first = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    second = status_of(
        Observed(generation=2, environment="e", problem=Problem("ImageNotAllowed", "n")),
        first,
        T1,
    )
    events = transitions(first, second)
    assert [(e.reason, e.warning) for e in events] == [("ImageNotAllowed", True)]


def test_unchanged_status_posts_nothing() -> None:
    for observed in (
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")),
        Observed(generation=1, environment="e", deployment=deployment()),
        Observed(generation=1, environment="e", deployment=deployment(ready=1, available=1)),
    ):
        first = status_of(observed, None, T0)
        second = status_of(observed, first, T1)
        assert transitions(first, second) == []


def test_leaving_stalled_for_progress_posts_nothing() -> None:
    stalled = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    rolling = status_of(
        Observed(generation=2, environment="e", deployment=deployment(ready=0, available=0)),
        stalled,
        T1,
    )
    assert transitions(stalled, rolling) == []


def test_a_pod_failure_posts_one_warning_when_it_first_appears() -> None:
    rolling_obs = Observed(
        generation=1, environment="e", deployment=deployment(ready=0, available=0)
    )
    failing_obs = Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, available=0),
        pods=pulling_pods(),
    )
    rolling = status_of(rolling_obs, None, T0)
    failing = status_of(failing_obs, rolling, T1)
    events = transitions(rolling, failing)
    assert [(e.reason, e.warning) for e in events] == [("ImagePullBackOff", True)]
    assert events[0].message == f"2 of 2 Pods: container main: {PULLING}"
    # the same failure again: no news; nor from nothing to failing twice
    assert transitions(failing, status_of(failing_obs, failing, T2)) == []
    assert [e.reason for e in transitions(None, status_of(failing_obs, None, T0))] == [
        "ImagePullBackOff"
    ]
    # fixed: Ready, one Normal event
    ready = status_of(Observed(generation=2, environment="e", deployment=deployment()), failing, T2)
    assert [(e.reason, e.warning) for e in transitions(failing, ready)] == [("Ready", False)]


def test_losing_ready_to_a_pod_failure_posts_one_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    failing = status_of(
        Observed(
            generation=1,
            environment="e",
            deployment=deployment(ready=0, available=0),
            pods=pulling_pods(),
        ),
        ready,
        T1,
    )
    assert [e.reason for e in transitions(ready, failing)] == ["ImagePullBackOff"]


def test_a_retried_failure_posts_one_warning_when_it_first_shows() -> None:
    problem = Problem("ChildForbidden", "refused (retrying)")
    pending = workload_status(Observed(generation=1, environment="dev"), None, T0)
    failing = workload_status(
        Observed(generation=1, environment="dev", retrying=problem), pending, T0
    )
    events = transitions(pending, failing)
    assert [(e.reason, e.warning) for e in events] == [("ChildForbidden", True)]
    assert transitions(failing, failing) == []
