"""The Environment reconcile: its namespace, its finalizer, a status that counts its
Workloads (at most every few seconds), and its deletion policy when it goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from berth.handlers.environment import (
    COUNTS_EVERY_SECONDS,
    COUNTS_SETTLE_SECONDS,
    counts_due_in,
)
from berth.kube.finalizers import FINALIZER
from berth.preview.teardown import POLL_SECONDS as FINALIZE_POLL_SECONDS
from tests.unit.builders import NAMESPACE, environment_dict
from tests.unit.world import World


def env_status(world: World, name: str = NAMESPACE) -> dict[str, Any]:
    body = world.api.stored("berth.dev/v1alpha1", "Environment", name)
    assert body is not None
    return dict(body.get("status") or {})


def env_condition(world: World, type_: str, name: str = NAMESPACE) -> tuple[str, str]:
    for cond in env_status(world, name).get("conditions") or []:
        if cond["type"] == type_:
            return cond["status"], cond["reason"]
    raise AssertionError(f"no {type_} condition: {env_status(world, name)}")


async def test_a_new_environment_gets_its_namespace_finalizer_and_status() -> None:
    world = World()
    world.add_environment()
    assert await world.reconcile_environment() is None
    assert world.written() == [
        ("patch", "Environment", NAMESPACE),  # our finalizer
        ("apply", "Namespace", NAMESPACE),
        # Berth's admission policies, bound to its namespace, one binding per level: created
        ("create", "ValidatingAdmissionPolicyBinding", f"berth-policy-deny.{NAMESPACE}"),
        ("create", "ValidatingAdmissionPolicyBinding", f"berth-policy-warn.{NAMESPACE}"),
        ("create", "ValidatingAdmissionPolicyBinding", f"berth-policy-audit.{NAMESPACE}"),
        ("apply", "Environment", NAMESPACE),  # status
    ]
    binding = world.api.stored(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        f"berth-policy-deny.{NAMESPACE}",
    )
    assert binding is not None
    assert binding["spec"]["paramRef"]["name"] == NAMESPACE
    assert binding["metadata"]["ownerReferences"][0]["kind"] == "Environment"
    namespace = world.api.stored("v1", "Namespace", NAMESPACE)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    env = world.api.stored("berth.dev/v1alpha1", "Environment", NAMESPACE)
    assert env is not None
    assert env["metadata"]["finalizers"] == [FINALIZER]
    assert env_condition(world, "Ready") == ("True", "Ready")
    assert (env_status(world)["workloads"], env_status(world)["readyWorkloads"]) == (0, 0)
    # Its first report is no change of a reported state: no Event.
    assert world.api.event_reasons(NAMESPACE) == []

    # Nothing changed: nothing written.
    assert await world.reconcile_environment() is None
    assert world.written() == []


@dataclass(frozen=True)
class Bad:
    id: str
    spec: dict[str, Any]
    older: bool  # another Environment, older, serves the namespace
    reason: str


BAD = [
    Bad("an invalid spec", {"type": "somewhere"}, False, "InvalidSpec"),
    Bad("a namespace another Environment serves", {}, True, "NamespaceTaken"),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
async def test_a_bad_environment_is_stalled_and_makes_nothing(case: Bad) -> None:
    world = World()
    if case.older:
        older = environment_dict()
        older["metadata"]["name"] = "first"
        world.add(older, age=3600)
    world.add_environment("second" if case.older else NAMESPACE, **case.spec)
    name = "second" if case.older else NAMESPACE

    assert await world.reconcile_environment(name) is None

    assert world.written() == [("apply", "Environment", name)]
    assert world.api.stored("v1", "Namespace", NAMESPACE) is None
    assert env_condition(world, "Ready", name) == ("False", case.reason)
    assert env_condition(world, "Stalled", name) == ("True", case.reason)
    assert world.api.event_reasons(name) == [case.reason]


async def test_an_environment_of_a_namespace_not_watched_is_anothers() -> None:
    world = World(namespaces=("elsewhere",))
    world.add_environment()
    assert await world.reconcile_environment() is None
    assert world.api.calls == []


async def test_gone_from_the_cache_is_nothing_to_do() -> None:
    world = World()
    assert await world.reconcile_environment("nope") is None
    assert world.api.calls == []


async def test_workload_counts_are_written_at_most_every_few_seconds() -> None:
    world = World()
    world.add_environment()
    await world.reconcile_environment()
    world.add_workload()
    world.clock.advance(1)

    wait = await world.reconcile_environment()
    assert wait == pytest.approx(COUNTS_EVERY_SECONDS - 1)
    assert world.written() == []

    world.clock.advance(wait or 0)
    assert await world.reconcile_environment() is None
    assert world.written() == [("apply", "Environment", NAMESPACE)]
    assert (env_status(world)["workloads"], env_status(world)["readyWorkloads"]) == (1, 0)


async def test_a_workload_change_wakes_its_environment_as_soon_as_counts_may_be_written() -> None:
    """Not a whole interval regardless (the quick start's WORKLOADS 0 beside three Ready
    Workloads): shortly when nothing was written lately, else when the interval ends."""
    world = World()
    world.add_environment()
    assert counts_due_in(world.runtime.context, NAMESPACE) == COUNTS_SETTLE_SECONDS  # never written
    await world.reconcile_environment()  # writes the first status
    assert counts_due_in(world.runtime.context, NAMESPACE) == pytest.approx(COUNTS_EVERY_SECONDS)
    world.clock.advance(COUNTS_EVERY_SECONDS - 1)
    assert counts_due_in(world.runtime.context, NAMESPACE) == pytest.approx(1)
    world.clock.advance(60)
    assert counts_due_in(world.runtime.context, NAMESPACE) == COUNTS_SETTLE_SECONDS
    assert COUNTS_SETTLE_SECONDS < COUNTS_EVERY_SECONDS <= 2


async def test_other_status_changes_are_written_at_once() -> None:
    world = World()
    world.add_environment()
    await world.reconcile_environment()
    world.edit_environment(type="nowhere")  # invalid now
    assert await world.reconcile_environment() is None
    assert world.written() == [("apply", "Environment", NAMESPACE)]
    assert env_condition(world, "Stalled") == ("True", "InvalidSpec")


# -- going away ----------------------------------------------------------------------------


async def deleting(policy: str, workloads: int) -> World:
    world = World()
    world.add_environment(deletionPolicy=policy)
    await world.reconcile_environment()
    for i in range(workloads):
        # With a finalizer of someone else's: each stays a while once deleted.
        body = world.add_workload(f"w{i}")
        world.api.put({**body, "metadata": {**body["metadata"], "finalizers": ["x/y"]}})
    await world.api.delete("berth.dev/v1alpha1", "Environment", NAMESPACE)
    return world


@pytest.mark.parametrize("policy", ["Retain", "Orphan"])
async def test_retain_and_orphan_let_the_environment_go_at_once(policy: str) -> None:
    world = await deleting(policy, workloads=2)
    assert await world.reconcile_environment() is None
    assert world.written() == [("patch", "Environment", NAMESPACE)]
    assert world.api.stored("berth.dev/v1alpha1", "Environment", NAMESPACE) is None
    assert len(world.api.of_kind("Workload")) == 2


async def test_delete_deletes_the_workloads_first() -> None:
    world = await deleting("Delete", workloads=2)
    assert await world.reconcile_environment() == FINALIZE_POLL_SECONDS
    assert world.written() == [
        ("delete", "Workload", "w0"),
        ("delete", "Workload", "w1"),
        ("apply", "Environment", NAMESPACE),  # status.teardown
    ]
    assert world.api.event_reasons(NAMESPACE)[-1] == "DeletingWorkloads"
    assert env_status(world)["teardown"] == {"phase": "Workloads"}
    assert env_condition(world, "Ready") == ("False", "TearingDown")
    assert world.api.stored("berth.dev/v1alpha1", "Environment", NAMESPACE) is not None

    # Still there (going): not deleted twice; the status says what it waits for.
    assert await world.reconcile_environment() == FINALIZE_POLL_SECONDS
    assert [w[0] for w in world.written()] == ["apply"]
    assert env_status(world)["teardown"]["waitingFor"] == [
        "Workload/w0; waits on finalizers x/y",
        "Workload/w1; waits on finalizers x/y",
    ]

    for name in ("w0", "w1"):
        world.api.remove("berth.dev/v1alpha1", "Workload", name, NAMESPACE)
    # Nothing was provisioned: then the namespace, which Berth created.
    assert await world.reconcile_environment() == FINALIZE_POLL_SECONDS
    assert ("delete", "Namespace", NAMESPACE) in world.written()
    assert env_status(world)["teardown"]["phase"] == "Namespace"
    assert world.api.stored("v1", "Namespace", NAMESPACE) is None
    # The namespace gone, the Environment goes.
    assert await world.reconcile_environment() is None
    assert world.written()[-1] == ("patch", "Environment", NAMESPACE)
    assert world.api.stored("berth.dev/v1alpha1", "Environment", NAMESPACE) is None


async def test_a_namespace_berth_did_not_create_stays() -> None:
    world = World()
    world.api.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    world.add_environment(deletionPolicy="Delete")
    await world.reconcile_environment()
    namespace = world.api.stored("v1", "Namespace", NAMESPACE)
    assert namespace is not None
    assert "berth.dev/created-by" not in (namespace["metadata"].get("annotations") or {})
    await world.api.delete("berth.dev/v1alpha1", "Environment", NAMESPACE)
    assert await world.reconcile_environment() is None
    assert ("delete", "Namespace", NAMESPACE) not in world.written()
    assert world.api.stored("v1", "Namespace", NAMESPACE) is not None
    assert world.api.event_reasons(NAMESPACE)[-1] == "NamespaceKept"


async def test_an_environment_going_without_our_finalizer_is_left_alone() -> None:
    world = World()
    env = environment_dict()
    env["metadata"]["finalizers"] = ["someone/else"]
    world.add(env)
    await world.api.delete("berth.dev/v1alpha1", "Environment", NAMESPACE)
    assert await world.reconcile_environment() is None
    assert world.written() == []


async def test_without_rights_to_bind_the_admission_policies_the_environment_still_serves() -> None:
    world = World()
    world.api.refuse("create", "ValidatingAdmissionPolicyBinding", status=403)
    world.add_environment()
    assert await world.reconcile_environment() is None
    assert env_condition(world, "Ready") == ("True", "Ready")
