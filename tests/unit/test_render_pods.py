"""Pods' own failures (berth.render.pods): the summary kept per Pod, the finding made of them."""

from __future__ import annotations

import itertools
from typing import Any

from berth.render.pods import (
    MAX_MESSAGE,
    ContainerSummary,
    PodSummary,
    pod_finding,
    summarise_pod,
)


def pod(
    name: str = "web-5d4f-abcde",
    *,
    phase: str = "Pending",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "team-a", "uid": "u-1"}
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T10:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if containers is not None:
        status["containerStatuses"] = containers
    if init is not None:
        status["initContainerStatuses"] = init
    if conditions is not None:
        status["conditions"] = conditions
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "status": status}


def waiting(name: str, reason: str, message: str | None = None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message is not None:
        state["message"] = message
    return {"name": name, "ready": False, "restartCount": 0, "state": {"waiting": state}, **extra}


def running(name: str, ready: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": 0,
        "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}},
    }


PULL_MESSAGE = 'Back-off pulling image "registry.acme.dev/app:nope"'


# -- summarise_pod() ------------------------------------------------------------------------


def test_summary_keeps_only_what_the_status_needs() -> None:
    body = pod(
        containers=[
            waiting("main", "ImagePullBackOff", PULL_MESSAGE),
            {
                "name": "side",
                "ready": False,
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                "image": "x",
                "imageID": "y",
            },
        ],
        init=[{"name": "setup", "ready": True, "state": {"terminated": {"exitCode": 0}}}],
    )
    assert summarise_pod(body) == PodSummary(
        name="web-5d4f-abcde",
        phase="Pending",
        containers=(
            ContainerSummary("setup", init=True, ready=True, terminated_exit_code=0),
            ContainerSummary(
                "main", waiting_reason="ImagePullBackOff", waiting_message=PULL_MESSAGE
            ),
            ContainerSummary(
                "side",
                waiting_reason="CrashLoopBackOff",
                waiting_message="back-off 5m0s",
                terminated_reason="OOMKilled",
                terminated_exit_code=137,
                image_id="y",
            ),
        ),
    )


def test_summary_keeps_each_containers_image_from_the_spec_and_its_image_id() -> None:
    body = pod(
        containers=[{"name": "main", "ready": True, "imageID": "r.example/app@sha256:" + "a" * 64}],
        init=[{"name": "setup", "ready": True, "imageID": ""}],
    )
    body["spec"] = {
        "containers": [{"name": "main", "image": "r.example/app:1"}],
        "initContainers": [{"name": "setup", "image": "r.example/setup:2"}],
    }
    setup, main = summarise_pod(body).containers
    assert (setup.image, setup.image_id) == ("r.example/setup:2", None)
    assert (main.image, main.image_id) == ("r.example/app:1", "r.example/app@sha256:" + "a" * 64)


def test_summary_of_an_unschedulable_pod() -> None:
    message = "0/3 nodes are available: 3 Insufficient cpu."
    body = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ]
    )
    summary = summarise_pod(body)
    assert summary.unschedulable == message
    assert summary.containers == ()


def test_summary_of_a_pod_being_deleted_and_of_an_empty_one() -> None:
    assert summarise_pod(pod(deleting=True)).deleting
    assert summarise_pod({"metadata": {"name": "p"}}) == PodSummary(name="p")


def test_summary_shortens_long_messages_to_one_line() -> None:
    long = "line one\n" + "x" * 1000
    summary = summarise_pod(pod(containers=[waiting("main", "ErrImagePull", long)]))
    message = summary.containers[0].waiting_message
    assert message is not None
    assert len(message) == MAX_MESSAGE
    assert "\n" not in message
    assert message.startswith("line one x")


# -- pod_finding() --------------------------------------------------------------------------


def summaries(*bodies: dict[str, Any]) -> list[PodSummary]:
    return [summarise_pod(b) for b in bodies]


def test_ready_and_starting_pods_say_nothing() -> None:
    assert pod_finding([]) is None
    assert (
        pod_finding(
            summaries(
                pod("a", phase="Running", containers=[running("main")]),
                pod("b", containers=[waiting("main", "ContainerCreating")]),
                pod("c"),  # not scheduled yet, no verdict either
            )
        )
        is None
    )


def test_image_pull_back_off_names_container_count_and_kubelet_words() -> None:
    finding = pod_finding(
        summaries(
            pod("web-1", containers=[waiting("main", "ImagePullBackOff", PULL_MESSAGE)]),
            pod("web-2", containers=[waiting("main", "ImagePullBackOff", PULL_MESSAGE)]),
            pod("web-3", phase="Running", containers=[running("main")]),
        )
    )
    assert finding is not None
    assert finding.reason == "ImagePullBackOff"
    assert finding.message == f"2 of 3 Pods: container main: {PULL_MESSAGE}"


def test_err_image_pull() -> None:
    message = 'failed to pull and unpack image "registry.acme.dev/app:nope": not found'
    finding = pod_finding(summaries(pod(containers=[waiting("main", "ErrImagePull", message)])))
    assert finding is not None
    assert (finding.reason, finding.message) == (
        "ErrImagePull",
        f"1 of 1 Pods: container main: {message}",
    )


def test_crash_loop_message_leaves_out_back_off_and_pod_name() -> None:
    def crashing(backoff: str, pod_name: str) -> dict[str, Any]:
        return pod(
            pod_name,
            phase="Running",
            containers=[
                waiting(
                    "main",
                    "CrashLoopBackOff",
                    f"back-off {backoff} restarting failed container=main pod={pod_name}",
                    lastState={"terminated": {"reason": "Error", "exitCode": 3}},
                    restartCount=4,
                )
            ],
        )

    first = pod_finding(summaries(crashing("10s", "web-1")))
    later = pod_finding(summaries(crashing("5m0s", "web-9")))
    assert first == later
    assert first is not None
    assert first.reason == "CrashLoopBackOff"
    assert first.message == (
        "1 of 1 Pods: container main: keeps exiting with exit code 3 (Error); "
        "its log says why (kubectl logs --previous)"
    )


def test_oom_killed_is_named_even_while_the_container_waits_in_crash_loop() -> None:
    finding = pod_finding(
        summaries(
            pod(
                phase="Running",
                containers=[
                    waiting(
                        "main",
                        "CrashLoopBackOff",
                        "back-off 40s",
                        lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                    )
                ],
            )
        )
    )
    assert finding is not None
    assert finding.reason == "OOMKilled"
    assert finding.message.startswith("1 of 1 Pods: container main: killed for using more memory")
    assert "resources.limits.memory" in finding.message


def test_oom_killed_container_that_runs_again_and_is_ready_says_nothing() -> None:
    container = running("main") | {"lastState": {"terminated": {"reason": "OOMKilled"}}}
    assert pod_finding(summaries(pod(phase="Running", containers=[container]))) is None


def test_run_as_non_root_says_what_to_do_and_drops_the_pod_clause() -> None:
    kubelet = (
        'container has runAsNonRoot and image will run as root (pod: "web-1_team-a(u-1)", '
        "container: main)"
    )
    finding = pod_finding(
        summaries(pod(containers=[waiting("main", "CreateContainerConfigError", kubelet)]))
    )
    assert finding is not None
    assert finding.reason == "CreateContainerConfigError"
    assert finding.message.startswith(
        "1 of 1 Pods: container main: container has runAsNonRoot and image will run as root; "
    )
    assert "web-1" not in finding.message
    assert "non-root user with a numeric USER" in finding.message
    assert "policy.podSecurity: baseline" in finding.message


def test_other_config_errors_get_no_pod_security_advice() -> None:
    message = 'configmap "settings" not found'
    finding = pod_finding(
        summaries(pod(containers=[waiting("main", "CreateContainerConfigError", message)]))
    )
    assert finding is not None
    assert finding.message == f"1 of 1 Pods: container main: {message}"


def test_unschedulable_quotes_the_scheduler() -> None:
    message = "0/3 nodes are available: 3 Insufficient cpu."
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    finding = pod_finding(
        summaries(pod("a", conditions=[cond]), pod("b", conditions=[cond]), pod("c"))
    )
    assert finding is not None
    assert (finding.reason, finding.message) == ("Unschedulable", f"2 of 3 Pods: {message}")


def test_init_container_failures_count_and_say_so() -> None:
    finding = pod_finding(
        summaries(
            pod(
                init=[waiting("migrate", "CrashLoopBackOff", "x")],
                containers=[waiting("main", "PodInitializing")],
            )
        )
    )
    assert finding is not None
    assert finding.message.startswith("1 of 1 Pods: init container migrate: keeps exiting")


def test_the_most_common_failure_leads_and_the_others_are_named() -> None:
    finding = pod_finding(
        summaries(
            pod("a", containers=[waiting("main", "ImagePullBackOff", PULL_MESSAGE)]),
            pod("b", containers=[running("main"), waiting("side", "CrashLoopBackOff", "x")]),
            pod("c", containers=[waiting("main", "ImagePullBackOff", PULL_MESSAGE)]),
        )
    )
    assert finding is not None
    assert finding.reason == "ImagePullBackOff"
    assert finding.message == (
        f"2 of 3 Pods: container main: {PULL_MESSAGE}; also 1 Pod CrashLoopBackOff (container side)"
    )


def test_pods_being_deleted_or_finished_do_not_count() -> None:
    finding = pod_finding(
        summaries(
            pod("old", deleting=True, containers=[waiting("main", "ErrImagePull", "gone")]),
            pod("done", phase="Failed", containers=[waiting("main", "ErrImagePull", "gone")]),
            pod("new", containers=[waiting("main", "ImagePullBackOff", PULL_MESSAGE)]),
            pod("ok", phase="Running", containers=[running("main")]),
        )
    )
    assert finding is not None
    assert finding.message == f"1 of 2 Pods: container main: {PULL_MESSAGE}"


def test_finding_does_not_depend_on_the_order_of_the_pods() -> None:
    bodies = [
        pod("a", containers=[waiting("main", "ErrImagePull", "not found: a")]),
        pod("b", containers=[waiting("main", "ErrImagePull", "not found: b")]),
        pod("c", containers=[waiting("side", "ImagePullBackOff", PULL_MESSAGE)]),
        pod("d", containers=[waiting("side", "ImagePullBackOff", PULL_MESSAGE)]),
    ]
    results = {pod_finding(summaries(*order)) for order in itertools.permutations(bodies)}
    assert len(results) == 1
    (finding,) = results
    assert finding is not None
    # a tie between two groups of two: the reason decides, alphabetically
    assert finding.reason == "ErrImagePull"
    assert finding.message == (
        "2 of 4 Pods: container main: not found: a; also 2 Pods ImagePullBackOff (container side)"
    )
