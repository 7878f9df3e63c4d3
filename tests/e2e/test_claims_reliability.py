"""Claims under stress (issue #10, points 3 and 4), on the real API server with the
test-only composer playing Crossplane: a shared resource has one definition and the other
users are told; under deletionPolicy Delete no claim outlives the last Workload that asks
for it — after an id or class change, or a crash between creating a claim and recording it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import ClusterAccess
from tests.e2e.conftest import RESYNC_SECONDS, ChartRights, OperatorProcess, start_operator
from tests.e2e.test_provisioning import (
    claims,
    db_workload,
    provisioner,
    resource_entry,
)
from tests.kubeutil import Berth, stays, wait_for

DEFINED_BY = "berth.dev/defined-by"


def claim_named(api: ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    return next((c for c in claims(api, namespace) if c["metadata"]["name"] == name), None)


def gone(berth: Berth, namespace: str, name: str) -> bool:
    try:
        berth.workload(namespace, name)
    except ApiException as err:
        return err.status == 404
    return False


@contextlib.contextmanager
def paused(operator: OperatorProcess) -> Iterator[None]:
    """Stop the session's operator (SIGSTOP) while a test runs operators of its own, and
    let it go on afterwards: two operators must never reconcile the same objects."""
    operator.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        operator.process.send_signal(signal.SIGCONT)


def test_a_shared_resource_has_one_definition_and_the_other_user_is_told(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy="Delete")
    berth.create_workload(namespace, db_workload("first", id="main", params={"storageGB": 10}))
    berth.wait_condition(namespace, "first", "Ready", "True")
    [claim] = claims(api, namespace)
    name = claim["metadata"]["name"]
    berth.create_workload(namespace, db_workload("second", id="main", params={"storageGB": 20}))
    wait_for(
        lambda: (berth.workload(namespace, "second").get("status") or {}).get("resources"),
        30,
        "the second Workload to be reconciled",
    )

    # Over several resyncs, the claim is never rewritten: one resourceVersion, one generation.
    def version() -> tuple[str, int] | None:
        now = claim_named(api, namespace, name)
        return (
            None
            if now is None
            else (now["metadata"]["resourceVersion"], now["metadata"]["generation"])
        )

    first = version()
    assert first is not None
    stays(lambda: version() == first, 4 * RESYNC_SECONDS, "the claim unwritten over four resyncs")
    now = claim_named(api, namespace, name)
    assert now is not None
    assert now["spec"]["parameters"]["storageGB"] == 10
    assert now["metadata"]["annotations"][DEFINED_BY] == "first"

    stalled = berth.wait_condition(
        namespace, "second", "Stalled", "True", timeout=30, reason="SharedResourceConflict"
    )
    assert "Workload 'first' defined it first" in stalled["message"]
    assert "storageGB" in stalled["message"]
    entry = resource_entry(berth, namespace, "second", "db")
    assert (entry["state"], entry["reason"]) == ("Failed", "SharedResourceConflict")
    assert "'first'" in entry["message"]
    assert berth.condition(namespace, "first", "Ready")["status"] == "True"  # type: ignore[index]

    # The definer goes: the other user's definition takes over, and it is Ready.
    berth.delete_workload(namespace, "first")
    wait_for(lambda: gone(berth, namespace, "first"), 30, "the first Workload to go")
    berth.wait_condition(namespace, "second", "Ready", "True", timeout=30)
    now = claim_named(api, namespace, name)
    assert now is not None, "the shared claim went while a user remained"
    assert now["metadata"]["uid"] == claim["metadata"]["uid"]
    assert now["spec"]["parameters"]["storageGB"] == 20
    assert now["metadata"]["annotations"][DEFINED_BY] == "second"

    # A newcomer that agrees is no conflict; one that does not is, naming the new definer.
    berth.create_workload(namespace, db_workload("third", id="main", params={"storageGB": 20}))
    berth.wait_condition(namespace, "third", "Ready", "True", timeout=30)
    berth.patch_workload(
        namespace, "third", {"spec": {"resources": {"db": {"params": {"storageGB": 99}}}}}
    )
    stalled = berth.wait_condition(
        namespace, "third", "Stalled", "True", timeout=30, reason="SharedResourceConflict"
    )
    assert "Workload 'second' defined it first" in stalled["message"]
    assert claim_named(api, namespace, name)["spec"]["parameters"]["storageGB"] == 20  # type: ignore[index]


def test_an_id_change_lets_the_old_claim_go(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy="Delete")
    berth.create_workload(namespace, db_workload("mover", id="old"))
    berth.wait_condition(namespace, "mover", "Ready", "True")
    [old] = claims(api, namespace)

    berth.patch_workload(namespace, "mover", {"spec": {"resources": {"db": {"id": "new"}}}})
    wait_for(
        lambda: (
            [c["metadata"]["name"] for c in claims(api, namespace)] != [old["metadata"]["name"]]
            and len(claims(api, namespace)) == 1
        ),
        30,
        "the old id's claim to go and the new one's to come",
    )
    berth.wait_condition(namespace, "mover", "Ready", "True", timeout=30)
    [new] = claims(api, namespace)
    assert new["metadata"]["name"].startswith("postgres-new-")

    berth.delete_workload(namespace, "mover")
    wait_for(lambda: not claims(api, namespace), 30, "every claim to go with the Workload")


def test_a_class_change_is_another_resource_even_with_the_same_id(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(
        provisioner("postgres"), provisioner("postgres-large"), deletionPolicy="Delete"
    )
    berth.create_workload(namespace, db_workload("small", id="main"))
    berth.create_workload(namespace, db_workload("large", id="main", **{"class": "large"}))
    berth.wait_condition(namespace, "small", "Ready", "True")
    berth.wait_condition(namespace, "large", "Ready", "True")
    small = resource_entry(berth, namespace, "small", "db")["claim"]["name"]
    large = resource_entry(berth, namespace, "large", "db")["claim"]["name"]
    assert small != large

    # Same type and id, another class: not a sharer. The small claim goes with its user.
    berth.delete_workload(namespace, "small")
    wait_for(
        lambda: [c["metadata"]["name"] for c in claims(api, namespace)] == [large],
        30,
        "only the large claim to remain",
    )
    stays(lambda: claim_named(api, namespace, large) is not None, 2, "the large claim staying")


def test_a_claim_created_just_before_a_crash_goes_with_its_workload(
    cluster: ClusterAccess,
    api: ApiClient,
    berth: Berth,
    namespace: str,
    make_environment: Any,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy="Delete")
    logs = cluster.kubeconfig.parent
    with paused(operator):
        # An operator that dies right after creating its first claim, before any status.
        monkeypatch.setenv("BERTH_TEST_EXIT_AFTER_CLAIM", "1")
        crashing = start_operator(chart_rights(), logs / f"crash-{namespace}.log", 2)
        monkeypatch.delenv("BERTH_TEST_EXIT_AFTER_CLAIM")
        try:
            berth.create_workload(namespace, db_workload("crashy"))
            wait_for(lambda: crashing.process.poll() is not None, 60, "the crash point")
        finally:
            if crashing.process.poll() is None:
                crashing.stop()
        assert crashing.process.returncode == 99, crashing.log_tail()
        [claim] = claims(api, namespace)
        body = berth.workload(namespace, "crashy")
        assert not (body.get("status") or {}).get("resources"), "the status lists the claim"
        assert body["metadata"]["finalizers"] == ["berth.dev/cleanup"]
        # Deleted while no operator runs; the one that starts next finds it being deleted.
        berth.delete_workload(namespace, "crashy")
        restarted = start_operator(chart_rights(), logs / f"restart-{namespace}.log", 2)
        try:
            wait_for(lambda: gone(berth, namespace, "crashy"), 60, "the Workload to go")
            wait_for(
                lambda: not claims(api, namespace),
                30,
                f"claim {claim['metadata']['name']}, which no status listed, to go",
            )
        finally:
            restarted.stop()


def test_nothing_retained_is_ever_swept(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    env = make_environment(provisioner("postgres"), deletionPolicy="Retain")
    berth.create_workload(namespace, db_workload("keeper"))
    berth.wait_condition(namespace, "keeper", "Ready", "True")
    [claim] = claims(api, namespace)
    berth.delete_workload(namespace, "keeper")
    wait_for(lambda: gone(berth, namespace, "keeper"), 30, "the Workload to go")
    # The policy becomes Delete, and another Workload's deletion sweeps the namespace.
    berth.patch_environment(env, {"spec": {"deletionPolicy": "Delete"}})
    berth.create_workload(namespace, db_workload("passer-by", id="x"))
    berth.wait_condition(namespace, "passer-by", "Ready", "True")
    berth.delete_workload(namespace, "passer-by")
    wait_for(lambda: gone(berth, namespace, "passer-by"), 30, "the second Workload to go")
    wait_for(lambda: len(claims(api, namespace)) == 1, 15, "the passer-by's claim to go")
    [kept] = claims(api, namespace)
    assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
    assert kept["metadata"]["annotations"]["berth.dev/retained-from"] == "keeper"
