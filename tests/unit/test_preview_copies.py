"""Copies of a base's Workloads in a preview: what they are, and who owns what."""

from __future__ import annotations

import json
from typing import Any

from berth.names import (
    APPLIED_HASH_ANNOTATION,
    COPY_OF_LABEL,
    LAST_APPLIED_ANNOTATION,
    PREVIEW_FIELD_MANAGER,
)
from berth.preview.copies import (
    Ownership,
    classify,
    copy_manifest,
    is_current,
    plan_copies,
    selected,
)


def base_workload(name: str, image: str = "registry.acme.dev/app:1") -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": "team-a-dev",
            "uid": f"uid-{name}",
            "generation": 3,
            "labels": {
                "app.kubernetes.io/part-of": "shop",
                "app.kubernetes.io/instance": "shop-dev",
                "berth.dev/something": "x",
            },
            "annotations": {
                "k8s.score.dev/kind": "Deployment",
                "argocd.argoproj.io/tracking-id": "shop:berth.dev/Workload:team-a-dev/x",
                "note": "not copied",
            },
        },
        "spec": {
            "environment": "team-a-dev",
            "containers": {"main": {"image": image}},
            "resources": {"db": {"type": "postgres"}},
        },
        "status": {"conditions": []},
    }


def entry(
    manager: str, operation: str, *fields: str, subresource: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "fieldsV1": {f: {} for f in fields},
    }
    if subresource:
        result["subresource"] = subresource
    return result


def live_copy(name: str, *others: dict[str, Any], labelled: bool = True) -> dict[str, Any]:
    body = copy_manifest(base_workload(name), "team-a-dev-pr-1")
    body["metadata"]["managedFields"] = [
        entry(PREVIEW_FIELD_MANAGER, "Apply", "f:metadata", "f:spec"),
        entry("berth", "Update", "f:status", subresource="status"),
        entry("berth", "Update", "f:metadata"),
        *others,
    ]
    if not labelled:
        del body["metadata"]["labels"][COPY_OF_LABEL]
    return body


def test_a_copy_is_the_base_workload_in_the_preview_visibly_a_copy() -> None:
    manifest = copy_manifest(base_workload("cart"), "team-a-dev-pr-1")
    meta = manifest["metadata"]
    assert meta["name"] == "cart"
    assert meta["namespace"] == "team-a-dev-pr-1"
    assert meta["labels"] == {"app.kubernetes.io/part-of": "shop", COPY_OF_LABEL: "team-a-dev"}
    assert set(meta["annotations"]) == {
        "k8s.score.dev/kind",
        APPLIED_HASH_ANNOTATION,
        LAST_APPLIED_ANNOTATION,
    }
    # It runs in the preview's Environment, not the one the base Workload names.
    assert manifest["spec"] == {
        "containers": {"main": {"image": "registry.acme.dev/app:1"}},
        "resources": {"db": {"type": "postgres"}},
    }
    assert "status" not in manifest
    # kubectl's last-applied holds the copy itself (all but that annotation).
    last = json.loads(meta["annotations"][LAST_APPLIED_ANNOTATION])
    without = {**manifest, "metadata": {**meta, "annotations": dict(meta["annotations"])}}
    del without["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert last == without


def test_the_copys_digest_follows_the_base() -> None:
    one = copy_manifest(base_workload("cart"), "ns")
    same = copy_manifest(base_workload("cart"), "ns")
    other = copy_manifest(base_workload("cart", image="registry.acme.dev/app:2"), "ns")
    assert is_current(one, same)
    assert not is_current(one, other)
    assert not is_current({"metadata": {}}, one)


def test_who_owns_a_workload_in_the_preview() -> None:
    assert classify(live_copy("cart")) is Ownership.COPY
    # A server-side apply by someone else: they own spec fields, by Apply.
    taken = live_copy("cart", entry("kubectl", "Apply", "f:spec", "f:metadata"))
    assert classify(taken) is Ownership.TAKEN_BY_APPLY
    # A client-side apply, an edit, a patch: Update.
    edited = live_copy("cart", entry("kubectl-client-side-apply", "Update", "f:spec"))
    assert classify(edited) is Ownership.TAKEN_BY_UPDATE
    # The same manifest applied client-side changes no spec field, but drops the label.
    assert classify(live_copy("cart", labelled=False)) is Ownership.TAKEN_BY_UPDATE
    # Someone else's metadata-only write (a label) does not take the copy.
    labelled = live_copy("cart", entry("kubectl-label", "Update", "f:metadata"))
    assert classify(labelled) is Ownership.COPY
    own = base_workload("cart")
    assert classify(own) is Ownership.OWN
    own["metadata"]["managedFields"] = [entry("kubectl", "Apply", "f:spec")]
    assert classify(own) is Ownership.OWN


def test_selection() -> None:
    assert selected(["b", "a", "c"], None) == ["a", "b", "c"]
    assert selected(["b", "a", "c"], []) == []
    assert selected(["b", "a", "c"], ["c", "zzz", "a"]) == ["a", "c"]


def test_the_plan_writes_missing_and_stale_copies_and_leaves_own_workloads_alone() -> None:
    base = [
        base_workload("cart"),
        base_workload("checkout"),
        base_workload("web", "registry.acme.dev/w:2"),
    ]
    current = live_copy("cart")
    stale = live_copy("web")  # holds :1, the base has :2
    own = base_workload("checkout") | {"metadata": {"name": "checkout", "namespace": "p"}}
    plan = plan_copies(base, [current, own, stale], "team-a-dev-pr-1", None)
    assert [m["metadata"]["name"] for m in plan.write] == ["web"]
    assert plan.write[0]["spec"]["containers"]["main"]["image"] == "registry.acme.dev/w:2"
    assert plan.copies == ["cart", "web"]
    assert plan.own == ["checkout"]
    assert plan.delete == []
    assert plan.let_go == {}


def test_the_plan_creates_deletes_and_lets_go() -> None:
    gone = base_workload("old")
    gone["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    base = [base_workload("cart"), base_workload("web"), gone]
    taken = live_copy("cart", entry("kubectl", "Apply", "f:spec"))
    unwanted = live_copy("old")
    leaving = live_copy("web")
    leaving["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    plan = plan_copies(base, [taken, unwanted, leaving], "team-a-dev-pr-1", None)
    assert plan.let_go == {"cart": Ownership.TAKEN_BY_APPLY}
    assert plan.own == ["cart"]
    # a copy whose base Workload is being deleted goes; one being deleted is left to go
    assert plan.delete == ["old"]
    assert plan.write == []
    assert plan.copies == []
    fresh = plan_copies(base, [], "team-a-dev-pr-1", ["web"])
    assert [m["metadata"]["name"] for m in fresh.write] == ["web"]
    assert fresh.copies == ["web"]
    none = plan_copies(base, [live_copy("web")], "team-a-dev-pr-1", [])
    assert none.delete == ["web"]
