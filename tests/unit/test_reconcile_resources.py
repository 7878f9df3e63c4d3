"""A Workload's resources: a claim on its way, one that fails, one the API server
refuses, one shared by two Workloads, and one the Workload no longer asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from berth.handlers.provisioning import FAILED_RESOURCE_POLL_SECONDS, RESOURCE_POLL_SECONDS
from berth.kube.finalizers import FINALIZER
from berth.provision.sharing import DEFINED_BY_ANNOTATION
from tests.unit.builders import NAMESPACE
from tests.unit.world import CLAIM_API, CLAIM_KIND, POSTGRES, WEB_SERVICE, World

DB_CONTAINERS = {
    "main": {
        "image": "registry.acme.dev/checkout:1.4.2",
        "variables": {"DB_HOST": "${resources.db.host}", "DB_PASSWORD": "${resources.db.password}"},
    }
}


def db_world(**resource: Any) -> World:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(
        containers=DB_CONTAINERS,
        service=WEB_SERVICE,
        resources={"db": {"type": "postgres", **resource}},
    )
    return world


def resource_entry(world: World, name: str = "checkout") -> dict[str, Any]:
    return dict(world.status(name)["resources"][0])


async def test_a_resource_on_its_way_is_waited_for_then_wired_in() -> None:
    world = db_world()

    # The claim is made; nothing that needs its outputs is rendered yet.
    assert await world.reconcile() == RESOURCE_POLL_SECONDS
    claim_name = world.claims()[0]["metadata"]["name"]
    assert world.written() == [
        ("patch", "Workload", "checkout"),  # our finalizer: it has a resource to release
        ("apply", CLAIM_KIND, claim_name),
        ("apply", "Workload", "checkout"),
    ]
    assert FINALIZER in world.workload_body()["metadata"]["finalizers"]
    assert world.condition("Ready") == ("False", "ClaimNotReady")
    assert world.condition("Stalled")[0] == "False"
    entry = resource_entry(world)
    assert (entry["state"], entry["reason"]) == ("Provisioning", "ClaimNotReady")
    assert world.api.of_kind("Deployment") == []
    assert world.events() == []

    # Still on its way: looked at again, nothing written.
    assert await world.reconcile() == RESOURCE_POLL_SECONDS
    assert world.written() == []

    # Ready, with its connection Secret: the Deployment comes, wired to it.
    world.make_claim_ready(world.claims()[0])
    assert await world.reconcile() is None
    assert world.written() == [
        ("apply", "Service", "checkout"),
        ("apply", "Deployment", "checkout"),
        ("apply", "Workload", "checkout"),
    ]
    entry = resource_entry(world)
    assert (entry["state"], entry["outputs"]) == (
        "Ready",
        ["host", "password", "port", "username"],
    )
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_HOST"]["value"] == "db.internal"
    # A secret output is a reference, never a value.
    assert "value" not in env["DB_PASSWORD"]
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert "c2VjcmV0" not in str(world.status())


@dataclass(frozen=True)
class Failure:
    id: str
    status: dict[str, Any] | None  # the claim's status, as Crossplane writes it
    secret_keys: tuple[str, ...] | None  # the connection Secret's keys (None: no Secret)
    state: str
    reason: str
    requeue: float | None
    stalled: bool


FAILURES = [
    Failure(
        "not synced: Crossplane's words, looked at now and then",
        {
            "conditions": [
                {
                    "type": "Synced",
                    "status": "False",
                    "reason": "ReconcileError",
                    "message": "cannot compose resources: quota exceeded",
                }
            ]
        },
        None,
        "Failed",
        "ClaimNotSynced",
        FAILED_RESOURCE_POLL_SECONDS,
        True,
    ),
    Failure(
        "ready, but its Secret lacks an output",
        {
            "host": "db.internal",
            "port": 5432,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
        ("username",),
        "Failed",
        "MissingOutput",
        FAILED_RESOURCE_POLL_SECONDS,
        True,
    ),
    Failure(
        "ready, its Secret not written yet",
        {
            "host": "db.internal",
            "port": 5432,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
        None,
        "Provisioning",
        "ConnectionSecretPending",
        RESOURCE_POLL_SECONDS,
        False,
    ),
]


@pytest.mark.parametrize("case", FAILURES, ids=[c.id for c in FAILURES])
async def test_a_resource_that_does_not_become_ready(case: Failure) -> None:
    world = db_world()
    await world.reconcile()
    claim = world.claims()[0]
    world.api.set_status(
        CLAIM_API,
        CLAIM_KIND,
        claim["metadata"]["name"],
        NAMESPACE,
        case.status or {},
        manager="crossplane",
    )
    if case.secret_keys is not None:
        world.api.add(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": claim["spec"]["writeConnectionSecretToRef"]["name"],
                    "namespace": NAMESPACE,
                },
                "data": dict.fromkeys(case.secret_keys, "eA=="),
            }
        )

    assert await world.reconcile() == case.requeue

    entry = resource_entry(world)
    assert (entry["state"], entry["reason"]) == (case.state, case.reason)
    assert world.condition("Stalled") == (
        ("True", case.reason) if case.stalled else ("False", "Progressing")
    )
    assert world.api.of_kind("Deployment") == []


@dataclass(frozen=True)
class Refused:
    id: str
    status: int
    message: str
    reason: str
    requeue: float | None


REFUSED = [
    Refused(
        "403: the operator may not manage the claim kind, said with the chart value to set",
        403,
        'postgresqlinstances.platform.acme.dev "x" is forbidden: User "system:serviceaccount:'
        'berth:berth" cannot patch resource "postgresqlinstances"',
        "Forbidden",
        FAILED_RESOURCE_POLL_SECONDS,
    ),
    Refused(
        "422: the API server will never take the claim as it is",
        422,
        'PostgreSQLInstance.platform.acme.dev "x" is invalid: spec.storageGB: must be <= 100',
        "ResourceRejected",
        None,
    ),
    Refused(
        "403 from an admission webhook is a rejection too",
        403,
        'admission webhook "claims.acme.dev" denied the request: no storage in dev',
        "ResourceRejected",
        None,
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
async def test_a_refused_resource_object(case: Refused) -> None:
    world = db_world()
    world.api.refuse("apply", CLAIM_KIND, status=case.status, message=case.message)

    assert await world.reconcile() == case.requeue

    assert world.claims() == []
    entry = resource_entry(world)
    assert (entry["state"], entry["reason"]) == ("Failed", case.reason)
    assert case.message in entry["message"]
    assert world.condition("Stalled") == ("True", case.reason)
    assert world.events() == [case.reason]
    if case.reason == "Forbidden":
        assert "rbac.claims" in entry["message"]


async def test_an_unexpected_refusal_of_a_resource_object_fails_the_reconcile() -> None:
    world = db_world()
    world.api.refuse("apply", CLAIM_KIND, status=500)
    with pytest.raises(Exception, match="500"):
        await world.reconcile()
    assert world.condition("Ready") == ("False", "ReconcileError")


# -- shared resources ----------------------------------------------------------------------


async def two_users(theirs: dict[str, Any], mine: dict[str, Any]) -> World:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(
        "orders", age=120, resources={"db": {"type": "postgres", "id": "main", **theirs}}
    )
    world.add_workload("checkout", resources={"db": {"type": "postgres", "id": "main", **mine}})
    assert await world.reconcile("orders") == RESOURCE_POLL_SECONDS
    return world


async def test_a_shared_resource_has_one_claim_for_its_users() -> None:
    world = await two_users({}, {})
    [claim] = world.claims()
    assert claim["metadata"]["annotations"][DEFINED_BY_ANNOTATION] == "orders"

    assert await world.reconcile("checkout") == RESOURCE_POLL_SECONDS
    # Same definition: the second user uses the claim as it is.
    assert [w for w in world.written() if w[1] == CLAIM_KIND] == []
    assert world.claims() == [claim]

    world.make_claim_ready(claim)
    for name in ("orders", "checkout"):
        assert await world.reconcile(name) is None
        assert resource_entry(world, name)["state"] == "Ready"


async def test_a_second_user_with_other_params_gets_a_conflict_not_a_tug_of_war() -> None:
    world = await two_users({"params": {"storageGB": 10}}, {"params": {"storageGB": 50}})
    claim = world.claims()[0]

    assert await world.reconcile("checkout") is None  # Stalled on its input
    # Its containers need nothing of the resource: they run; the claim is not touched.
    assert world.written() == [
        ("patch", "Workload", "checkout"),
        ("apply", "Deployment", "checkout"),
        ("apply", "Workload", "checkout"),
    ]
    assert world.claims() == [claim]
    entry = resource_entry(world)
    assert (entry["state"], entry["reason"]) == ("Failed", "SharedResourceConflict")
    assert "Workload 'orders' defined it first, differently (params storageGB)" in entry["message"]
    assert world.condition("Stalled") == ("True", "SharedResourceConflict")
    assert world.events() == ["SharedResourceConflict"]


async def test_the_definition_passes_on_when_its_definer_lets_go() -> None:
    world = await two_users({"params": {"storageGB": 10}}, {"params": {"storageGB": 50}})
    await world.reconcile("checkout")
    assert world.condition("Stalled") == ("True", "SharedResourceConflict")

    world.api.edit(
        "berth.dev/v1alpha1", "Workload", "orders", NAMESPACE, {"spec": {"resources": None}}
    )
    # Retain (the development default) keeps the claim for the next user.
    await world.reconcile("orders")
    assert world.api.event_reasons("orders") == ["ResourceReleased"]
    await world.reconcile("checkout")
    [claim] = world.claims()
    assert claim["metadata"]["annotations"][DEFINED_BY_ANNOTATION] == "checkout"
    assert claim["spec"]["parameters"]["storageGB"] == 50
    assert world.condition("Stalled")[0] == "False"


# -- letting go ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    id: str
    policy: str
    claim_kept: bool
    labels_kept: bool
    retained_mark: bool
    line: str


POLICIES = [
    Policy("Delete deletes the claim", "Delete", False, False, False, "deleted"),
    Policy("Retain keeps it, marked", "Retain", True, True, True, "retained"),
    Policy("Orphan keeps it, unlabelled", "Orphan", True, False, False, "orphaned"),
]


def check_claim(world: World, case: Policy, name: str) -> None:
    claim = world.api.stored(CLAIM_API, CLAIM_KIND, name, NAMESPACE)
    assert (claim is not None) == case.claim_kept
    if claim is not None:
        labels = claim["metadata"].get("labels") or {}
        annotations = claim["metadata"].get("annotations") or {}
        assert ("berth.dev/workload" in labels) == case.labels_kept
        assert ("berth.dev/retained-from" in annotations) == case.retained_mark


@pytest.mark.parametrize("case", POLICIES, ids=[c.id for c in POLICIES])
async def test_finalizing_a_workload_with_each_deletion_policy(case: Policy) -> None:
    world = db_world()
    world.edit_environment(deletionPolicy=case.policy)
    await world.reconcile()
    claim_name = world.claims()[0]["metadata"]["name"]
    assert await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    assert world.workload_body()["metadata"]["deletionTimestamp"]

    assert await world.reconcile() is None

    verb = {"Delete": "delete", "Retain": "patch", "Orphan": "patch"}[case.policy]
    assert world.written() == [
        (verb, CLAIM_KIND, claim_name),
        ("patch", "Workload", "checkout"),  # our finalizer goes: the Workload with it
    ]
    check_claim(world, case, claim_name)
    assert world.api.stored("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE) is None


@pytest.mark.parametrize("case", POLICIES, ids=[c.id for c in POLICIES])
async def test_a_resource_no_longer_asked_for_goes_by_the_policy(case: Policy) -> None:
    world = db_world()
    world.edit_environment(deletionPolicy=case.policy)
    await world.reconcile()
    claim_name = world.claims()[0]["metadata"]["name"]

    world.edit_workload(resources=None, containers={"main": {"variables": None}})
    assert await world.reconcile() is None

    check_claim(world, case, claim_name)
    assert world.events() == ["ResourceReleased"]
    assert world.api.events("checkout")[0][2].startswith(f"{case.line} {CLAIM_KIND} {claim_name}")
    # Nothing left to release: the finalizer goes.
    assert FINALIZER not in (world.workload_body()["metadata"].get("finalizers") or [])
    assert "resources" not in world.status() or world.status()["resources"] == []


async def test_finalizing_a_workload_whose_environment_is_gone_keeps_its_resources() -> None:
    world = db_world()
    world.edit_environment(deletionPolicy="Delete")
    await world.reconcile()
    claim_name = world.claims()[0]["metadata"]["name"]
    world.api.remove("berth.dev/v1alpha1", "Environment", "team-a-dev")
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)

    assert await world.reconcile() is None
    # With no Environment the policy cannot be known: Retain.
    assert world.written() == [("patch", CLAIM_KIND, claim_name), ("patch", "Workload", "checkout")]
    assert world.api.stored(CLAIM_API, CLAIM_KIND, claim_name, NAMESPACE) is not None


async def test_a_deleted_workload_without_our_finalizer_is_left_to_go() -> None:
    world = World()
    world.add_environment()
    body = world.add_workload()
    world.api.put({**body, "metadata": {**body["metadata"], "finalizers": ["someone.else/x"]}})
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    assert await world.reconcile() is None
    assert world.written() == []


async def test_a_crash_left_claim_is_swept_once_per_namespace() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Delete")
    world.add(
        {
            "apiVersion": CLAIM_API,
            "kind": CLAIM_KIND,
            "metadata": {
                "name": "gone-db-1",
                "namespace": NAMESPACE,
                "labels": {
                    "app.kubernetes.io/managed-by": "berth",
                    "berth.dev/workload": "gone",
                    "berth.dev/resource": "gone-db-1",
                },
            },
            "spec": {},
        },
        by_berth=True,
    )
    world.add_workload()
    await world.reconcile()
    assert ("delete", CLAIM_KIND, "gone-db-1") in world.written()
    assert world.api.stored(CLAIM_API, CLAIM_KIND, "gone-db-1", NAMESPACE) is None
    assert world.events()[0] == "ResourceReleased"
