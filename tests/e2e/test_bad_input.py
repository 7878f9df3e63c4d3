"""Bad input gets a clear error, and nothing that already runs is lost.

Mistakes the schema can describe are refused by the API server at admission; the
rest turn the Workload Stalled with a reason and a message a developer can act on,
while the Deployment it already runs is left exactly as it was.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.kubeutil import Berth, environment_body, stays, wait_for, workload_body

GOOD_IMAGE = "registry.acme.dev/app:1.0"


def rejected(call: Any) -> str:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    return str(caught.value.body)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"service": {"ports": {"web": {"port": 70000}}}},
            "spec.service.ports.web.port",
            id="port-out-of-range",
        ),
        pytest.param(
            {"service": {"ports": {"web": {"port": 80, "targetPort": 0}}}},
            "targetPort",
            id="target-port-zero",
        ),
        pytest.param({"containers": {}}, "spec.containers", id="no-containers"),
        pytest.param(
            {"containers": [{"name": "main", "image": GOOD_IMAGE}]},
            "spec.containers",
            id="containers-as-list",
        ),
        pytest.param(
            {"containers": {"Main_1": {"image": GOOD_IMAGE}}}, "Main_1", id="container-name-not-dns"
        ),
        pytest.param({"containers": {"main": {"image": ""}}}, "image", id="empty-image"),
        pytest.param({"containers": {"main": {}}}, "image", id="missing-image"),
        pytest.param({"replicas": -1}, "replicas", id="negative-replicas"),
        pytest.param({"replicas": 9007199254740992}, "replicas", id="replicas-beyond-int53"),
        pytest.param({"replicas": 4294967299}, "replicas", id="replicas-beyond-int32"),
        pytest.param(
            {"containers": {"main": {"image": " registry.acme.dev/app:1.0"}}},
            "image",
            id="image-with-leading-space",
        ),
        pytest.param(
            {"containers": {"main": {"image": "registry.acme.dev/app:1.0\n"}}},
            "image",
            id="image-with-trailing-newline",
        ),
        pytest.param(
            {"containers": {"main": {"image": GOOD_IMAGE, "variables": {"A\tB": "x"}}}},
            "variable names",
            id="tab-in-variable-name",
        ),
        pytest.param({"resources": {"DB": {"type": "postgres"}}}, "DB", id="resource-name-not-dns"),
        pytest.param({"resources": {"db": {}}}, "type", id="resource-without-type"),
    ],
)
def test_malformed_workloads_are_rejected_at_admission(
    berth: Berth, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    body = workload_body("bad", **spec)
    message = rejected(lambda: berth.create_workload(namespace, body))
    assert expected in message


def test_environment_mistakes_are_rejected_at_admission(
    berth: Berth, namespace: str, environment: str
) -> None:
    message = rejected(
        lambda: berth.patch_environment(environment, {"spec": {"namespace": "elsewhere"}})
    )
    assert "namespace is immutable" in message
    message = rejected(
        lambda: berth.create_environment(
            environment_body("bad-type-" + namespace, namespace, type="prod")
        )
    )
    assert "spec.type" in message
    message = rejected(
        lambda: berth.create_environment(environment_body("Bad_Name-ns", "Not_A_Namespace"))
    )
    assert "spec.namespace" in message


@pytest.mark.parametrize(
    ("change", "reason", "fragments"),
    [
        pytest.param(
            {"containers": {"main": {"variables": {"DB": "${resources.nope.host}"}}}},
            "UnknownResource",
            ["DB", "nope"],
            id="placeholder-unknown-resource",
        ),
        pytest.param(
            {"containers": {"main": {"variables": {"BROKEN": "${metadata.name"}}}},
            "InvalidPlaceholder",
            ["BROKEN"],
            id="placeholder-unterminated",
        ),
        pytest.param(
            {"containers": {"main": {"variables": {"TEAM": "${metadata.annotations.team}"}}}},
            "UnknownMetadata",
            ["team"],
            id="placeholder-unknown-annotation",
        ),
        # A change that breaks the Environment's policy never gets this far: admission
        # refuses it (test_policy_admission.py), and a policy that tightens under a
        # running Workload stalls it the same way (test_a_tightened_rule_...).
        pytest.param(
            {"environment": "no-such-env"},
            "EnvironmentNotFound",
            ["no-such-env"],
            id="missing-environment",
        ),
        pytest.param(
            {
                "resources": {
                    "a": {"type": "thing", "params": {"peer": "${resources.b.host}"}},
                    "b": {"type": "thing", "params": {"peer": "${resources.a.host}"}},
                }
            },
            "PlaceholderCycle",
            ["a", "b"],
            id="placeholder-cycle",
        ),
        pytest.param(
            {"containers": {"main": {"files": "not-a-map"}}},
            "InvalidSpec",
            ["files"],
            id="files-malformed",
        ),
        pytest.param(
            {"containers": {"main": {"files": {"/etc/app.conf": {"source": "./app.conf"}}}}},
            "FileSourceNotInlined",
            ["/etc/app.conf"],
            id="file-source-not-inlined",
        ),
    ],
)
def test_a_bad_change_stalls_and_keeps_what_runs(
    berth: Berth,
    namespace: str,
    environment: str,
    change: dict[str, Any],
    reason: str,
    fragments: list[str],
) -> None:
    berth.create_workload(namespace, workload_body("app"))
    berth.wait_condition(namespace, "app", "Ready", "True")
    before = berth.apps.read_namespaced_deployment("app", namespace)

    berth.patch_workload(namespace, "app", {"spec": change})
    stalled = berth.wait_condition(namespace, "app", "Stalled", "True", timeout=15, reason=reason)
    assert stalled["reason"] == reason
    for fragment in fragments:
        assert fragment in stalled["message"], stalled["message"]
    ready = berth.condition(namespace, "app", "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", reason)
    wl = berth.workload(namespace, "app")
    assert wl["status"]["observedGeneration"] == wl["metadata"]["generation"]
    wait_for(
        lambda: any(e.reason == reason for e in berth.workload_events(namespace, "app", "Warning")),
        15,
        f"a {reason} Warning Event",
    )

    # The running Deployment is untouched, and stays so.
    def untouched() -> bool:
        now = berth.apps.read_namespaced_deployment("app", namespace)
        return bool(
            now.metadata.resource_version == before.metadata.resource_version
            and now.status.available_replicas == 1
        )

    stays(untouched, 3, "the Deployment being untouched")


def test_fixing_the_mistake_recovers(berth: Berth, namespace: str, environment: str) -> None:
    mistake = {"main": {"image": GOOD_IMAGE, "variables": {"DB": "${resources.nope.host}"}}}
    berth.create_workload(namespace, workload_body("fixme", containers=mistake))
    berth.wait_condition(namespace, "fixme", "Stalled", "True", reason="UnknownResource")
    assert not berth.apps.list_namespaced_deployment(
        namespace, label_selector="berth.dev/workload=fixme"
    ).items

    fixed = {"main": {"variables": {"DB": "db.example"}}}
    berth.patch_workload(namespace, "fixme", {"spec": {"containers": fixed}})
    berth.wait_condition(namespace, "fixme", "Ready", "True")
    assert berth.condition(namespace, "fixme", "Stalled")["status"] == "False"  # type: ignore[index]
    wait_for(
        lambda: any(
            e.reason == "Ready" for e in berth.workload_events(namespace, "fixme", "Normal")
        ),
        15,
        "the Ready Event",
    )


def test_a_workload_without_an_environment_says_so(
    berth: Berth, namespace: str, operator: Any
) -> None:
    # Admission refuses a Workload where no Environment is (test_policy_admission.py),
    # unless it names one: then the operator says that one is missing.
    berth.create_workload(namespace, workload_body("orphan", environment=namespace))
    stalled = berth.wait_condition(namespace, "orphan", "Stalled", "True", timeout=15)
    assert stalled["reason"] == "EnvironmentNotFound"
    assert namespace in stalled["message"]

    # The platform team creates the Environment: the Workload starts by itself.
    berth.create_environment(environment_body(namespace, namespace))
    try:
        berth.wait_condition(namespace, "orphan", "Ready", "True")
    finally:
        berth.delete_environment(namespace)


def test_unchanged_bad_input_is_reported_once(
    berth: Berth, namespace: str, environment: str
) -> None:
    body = workload_body("noisy")
    body["spec"]["containers"]["main"]["variables"] = {"TEAM": "${metadata.annotations.team}"}
    berth.create_workload(namespace, copy.deepcopy(body))
    berth.wait_condition(namespace, "noisy", "Stalled", "True", reason="UnknownMetadata")
    version = berth.workload(namespace, "noisy")["metadata"]["resourceVersion"]
    stays(
        lambda: berth.workload(namespace, "noisy")["metadata"]["resourceVersion"] == version,
        5,
        "the stalled Workload's status staying unwritten",
    )
    warnings = [
        e
        for e in berth.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=noisy"
        ).items
        if e.type == "Warning" and e.reason == "UnknownMetadata"
    ]
    assert len(warnings) == 1, [(e.reason, e.message) for e in warnings]
