"""The status the controllers write fits the CRD's status model, field for field.

The API server drops a status field its schema does not declare without a word, so each
status builder is driven through every branch here and its output checked against the
strict models (tests/statuscheck.py); the e2e suite checks the real operator's writes.
"""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from berth.api import (
    ClusterProvisioner,
    Environment,
    EnvironmentStatus,
    Workload,
    WorkloadStatus,
)
from berth.api.common import StatusModel
from berth.clock import SystemClock
from berth.handlers import provisioning as handler_provisioning
from berth.handlers import workload as handler_workload
from berth.handlers.keys import WorkloadKey
from berth.kube.events import EventRecorder
from berth.problems import Problem
from berth.provision.model import ClaimRef
from berth.render.pods import ContainerSummary, PodSummary
from berth.render.status import Observed, environment_status, workload_status
from tests.statuscheck import (
    STATUS_MODELS,
    assert_status_fits,
    status_errors,
    status_write_errors,
)
from tests.unit.builders import environment_dict, workload, workload_dict

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:05:00Z"


def deployment(*, ready: int = 2, deadline_exceeded: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Available", "status": "True" if ready >= 2 else "False", "reason": "X"}]
    if deadline_exceeded:
        conditions.append(
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "too slow",
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "team-a-dev", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": conditions,
        },
    }


CRASHING = PodSummary(
    name="checkout-1",
    phase="Running",
    containers=(
        ContainerSummary(
            name="main",
            waiting_reason="CrashLoopBackOff",
            waiting_message="back-off restarting",
            terminated_reason="Error",
            terminated_exit_code=1,
        ),
    ),
)
DB_ENTRY = {
    "name": "db",
    "type": "postgres",
    "class": "large",
    "id": "shared-db",
    "provisioner": "postgres",
    "selection": "the Environment's provisioner for type postgres",
    "state": "Ready",
    "reason": "Ready",
    "message": "the claim is ready",
    "claim": {
        "apiVersion": "platform.acme.dev/v1alpha1",
        "kind": "PostgreSQLInstance",
        "name": "x",
    },
    "objects": [
        {
            "apiVersion": "platform.acme.dev/v1alpha1",
            "kind": "PostgreSQLInstance",
            "name": "x",
            "namespace": "team-a-dev",
        }
    ],
    "outputs": ["host", "password", "port"],
}
OBSERVED = {
    "invalid inputs": Observed(generation=2, environment="e", problem=Problem("InvalidSpec", "m")),
    "invalid inputs, running Deployment": Observed(
        generation=2, environment="e", problem=Problem("InvalidSpec", "m"), deployment=deployment()
    ),
    "no Environment": Observed(generation=1, environment=None, problem=Problem("X", "m")),
    "resources on their way": Observed(
        generation=1,
        environment="e",
        resources=[{"name": "db", "type": "postgres", "state": "Pending"}],
        resources_problem=Problem("ResourcePending", "the claim is not ready"),
        deployment=deployment(ready=0),
    ),
    "a child refused for now": Observed(
        generation=1, environment="e", retrying=Problem("ChildForbidden", "403")
    ),
    "past the progress deadline": Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, deadline_exceeded=True),
        pods=[CRASHING],
    ),
    "Pods crashing": Observed(
        generation=1, environment="e", deployment=deployment(ready=0), pods=[CRASHING]
    ),
    "no Deployment yet": Observed(generation=1, environment="e", desired_replicas=2),
    "ready, with everything": Observed(
        generation=5,
        environment="team-a-dev",
        deployment=deployment(),
        desired_replicas=2,
        endpoint="checkout.team-a-dev.svc.cluster.local:80",
        url="https://checkout.dev.apps.acme.dev/",
        managed_objects=handler_workload.managed_objects([deployment()]),
        resources=[DB_ENTRY],
    ),
}


def test_every_status_model_forbids_unknown_fields() -> None:
    models: list[type[BaseModel]] = list(STATUS_MODELS.values())
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        assert issubclass(model, StatusModel), model
        assert model.model_config.get("extra") == "forbid", model
        for info in model.model_fields.values():
            for arg in getattr(info.annotation, "__args__", (info.annotation,)):
                inner = getattr(arg, "__args__", (arg,))
                models += [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
    # WorkloadStatus, ReplicaStatus, ResourceStatus, ObjectReference, Condition, ...
    assert len(seen) >= 7


def test_a_typo_in_a_status_key_is_caught() -> None:
    good = workload_status(OBSERVED["ready, with everything"], None, T0)
    assert status_errors("Workload", good) == []
    for path, typo in (
        ((), "observedGeneraton"),
        (("replicas",), "avaliable"),
        (("conditions", 0), "lastTransitionTme"),
        (("resources", 0), "output"),
        (("resources", 0, "claim"), "namespce"),
    ):
        status = copy.deepcopy(good)
        target: Any = status
        for part in path:
            target = target[part]
        target[typo] = 1
        assert any(
            e.startswith(".".join(map(str, (*path, typo))))
            for e in status_errors("Workload", status)
        ), typo


def test_snake_case_and_converted_values_are_caught() -> None:
    assert status_errors("Workload", {"observed_generation": 1})
    assert status_errors("Workload", {"replicas": {"ready": "1"}})
    assert status_errors("Environment", {"readyWorkloads": 1.0})
    assert status_errors("Workload", {"kopf": {"progress": {}}})


@pytest.mark.parametrize("case", sorted(OBSERVED))
def test_workload_status_fits_the_model(case: str) -> None:
    first = workload_status(OBSERVED[case], None, T0)
    assert_status_fits("Workload", first)
    assert_status_fits("Workload", workload_status(OBSERVED[case], first, T1))


@pytest.mark.parametrize(
    ("problem", "namespace_ready"),
    [(Problem("NamespaceTaken", "m"), False), (None, False), (None, True)],
)
def test_environment_status_fits_the_model(problem: Problem | None, namespace_ready: bool) -> None:
    status = environment_status(
        generation=3,
        namespace="team-a-dev",
        namespace_ready=namespace_ready,
        problem=problem,
        workloads=4,
        ready_workloads=1,
        previous=None,
        now=T0,
    )
    assert_status_fits("Environment", status)


def test_resource_entries_fit_the_model() -> None:
    """Every shape of entry provision() builds for status.resources."""
    wl = workload(
        resources={
            "db": {"type": "postgres", "class": "large", "id": "shared-db"},
            "cache": {"type": "redis"},
        }
    )
    claim = ClaimRef("platform.acme.dev/v1alpha1", "PostgreSQLInstance", "x", "team-a-dev")
    plan = SimpleNamespace(claim=claim)
    child = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cache", "namespace": "team-a-dev"},
    }
    entries = [
        handler_provisioning._entry("cache", wl, state="Pending", reason="X", message="m"),
        handler_provisioning._entry(
            "db",
            wl,
            provisioner="postgres",
            selection="why",
            state="Failed",
            reason="SharedResourceConflict",
            message="m",
            claim=handler_provisioning._claim_ref(plan),  # type: ignore[arg-type]
        ),
        handler_provisioning._entry(
            "db",
            wl,
            provisioner="postgres",
            selection="why",
            state="Ready",
            reason="Ready",
            message="m",
            claim=handler_provisioning._claim_ref(plan),  # type: ignore[arg-type]
            objects=[handler_provisioning._ref(child)],
            outputs=["host", "port"],
        ),
    ]
    observed = Observed(generation=1, environment="e", resources=entries, deployment=deployment())
    assert_status_fits("Workload", workload_status(observed, None, T0))


class RecordingClient:
    """Records the status bodies written through it (a shape check, not the API)."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str, dict[str, Any]]] = []

    async def apply(self, manifest: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.statuses.append((manifest["kind"], manifest["status"]))
        return manifest

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {**manifest, "metadata": {"name": "event-1"}}


def test_the_failure_report_fits_the_model() -> None:
    """report_failure() folds its conditions into the status the Workload had."""
    body = workload_dict()
    body["metadata"].update(generation=2, uid="u")
    body["status"] = workload_status(OBSERVED["ready, with everything"], None, T0)
    client = RecordingClient()
    cache = SimpleNamespace(workload=lambda key: body, remember_write=lambda *args: None)
    context = SimpleNamespace(
        cache=cache,
        client=client,
        clock=SystemClock(),
        events=EventRecorder(client),  # type: ignore[arg-type]
    )
    key = WorkloadKey("team-a-dev", "checkout")
    asyncio.run(handler_workload.report_failure(context, key, RuntimeError("boom")))  # type: ignore[arg-type]
    assert [kind for kind, _ in client.statuses] == ["Workload"]
    status = client.statuses[0][1]
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Ready"] == "ReconcileError"
    assert_status_fits("Workload", status)


def test_only_writes_to_our_status_are_checked() -> None:
    bad = {"status": {"typo": 1}}
    assert status_write_errors("PATCH", "/apis/berth.dev/v1alpha1/x/status", bad, "Workload")
    assert not status_write_errors("GET", "/apis/berth.dev/v1alpha1/x/status", bad, "Workload")
    assert not status_write_errors("PATCH", "/apis/berth.dev/v1alpha1/x", bad, "Workload")
    assert not status_write_errors("PATCH", "/apis/apps/v1/x/status", bad, "Deployment")


def test_reading_an_object_tolerates_a_status_this_version_does_not_know() -> None:
    """A status written by another version (its CRD declares more) never makes the
    object invalid: nothing reads status through the models."""
    newer = {"observedGeneration": 1, "someFieldOfANewerBerth": True}
    wl = workload_dict()
    wl["status"] = newer
    assert Workload.model_validate(wl).status is None
    env = environment_dict()
    env["status"] = newer
    assert Environment.model_validate(env).status is None
    provisioner = {
        "metadata": {"name": "pg"},
        "spec": {"type": "postgres", "secret": {"name": "pg"}},
        "status": newer,
    }
    assert ClusterProvisioner.model_validate(provisioner).status is None
    # A status that fits is read, and the spec is still checked as strictly as before.
    wl["status"] = {"observedGeneration": 1}
    assert Workload.model_validate(wl).status == WorkloadStatus(observed_generation=1)
    env["status"] = {"readyWorkloads": 2}
    assert Environment.model_validate(env).status == EnvironmentStatus(ready_workloads=2)
    wl["spec"]["containers"]["main"]["imgae"] = "typo"
    with pytest.raises(ValidationError):
        Workload.model_validate(wl)
