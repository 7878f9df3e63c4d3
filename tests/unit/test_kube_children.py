"""The pure parts of berth.kube.children: keys, hashes, prepared manifests, drift checks."""

from __future__ import annotations

import copy
from typing import Any

from berth.kube.children import (
    ObjectKey,
    applied_hash,
    foreign_owner,
    manifest_hash,
    owned_by,
    prepared_manifest,
    same_as_live,
    untouched_since_our_apply,
)
from berth.names import APPLIED_HASH_ANNOTATION, FIELD_MANAGER

OWNER: dict[str, Any] = {
    "apiVersion": "berth.dev/v1alpha1",
    "kind": "Workload",
    "metadata": {"name": "checkout", "namespace": "team-a-dev", "uid": "0b7c-uid"},
}


def manifest() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "team-a-dev",
            "labels": {"berth.dev/workload": "checkout"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"berth.dev/workload": "checkout"}},
            "template": {"spec": {"containers": [{"name": "main", "image": "x:1"}]}},
        },
    }


# -- ObjectKey ------------------------------------------------------------------------------


def test_object_key_of_grouped_namespaced_object() -> None:
    assert ObjectKey.of(manifest()) == ObjectKey("apps", "Deployment", "team-a-dev", "checkout")


def test_object_key_of_core_object() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
    assert ObjectKey.of(service) == ObjectKey("", "Service", "n", "s")


def test_object_key_of_cluster_scoped_object() -> None:
    env = {"apiVersion": "berth.dev/v1alpha1", "kind": "Environment", "metadata": {"name": "e"}}
    assert ObjectKey.of(env) == ObjectKey("berth.dev", "Environment", "", "e")


def test_object_key_ignores_the_version() -> None:
    old = {"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "d"}}
    new = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    assert ObjectKey.of(old) == ObjectKey.of(new)
    assert len({ObjectKey.of(old), ObjectKey.of(new)}) == 1


def test_object_keys_sort_by_group_kind_namespace_name() -> None:
    keys = [
        ObjectKey("apps", "Deployment", "n", "b"),
        ObjectKey("", "Service", "n", "a"),
        ObjectKey("apps", "Deployment", "n", "a"),
    ]
    assert sorted(keys) == [keys[1], keys[2], keys[0]]


# -- manifest_hash / prepared_manifest ------------------------------------------------------


def test_manifest_hash_ignores_key_order() -> None:
    one = manifest()
    two = {"spec": one["spec"], "metadata": one["metadata"], "kind": "Deployment"}
    two["apiVersion"] = "apps/v1"
    assert manifest_hash(one) == manifest_hash(two)
    assert len(manifest_hash(one)) == 32


def test_manifest_hash_changes_with_content() -> None:
    changed = manifest()
    changed["spec"]["replicas"] = 3
    assert manifest_hash(changed) != manifest_hash(manifest())


def test_manifest_hash_is_stable() -> None:
    # a fixed value: the hash rides on live objects, so it must not change between releases
    assert manifest_hash({"a": 1, "b": [1, "x"]}) == manifest_hash({"b": [1, "x"], "a": 1})
    assert manifest_hash({}) == "44136fa355b3678a1146ad16f7e8649e"


def test_prepared_manifest_adds_owner_reference_and_hash() -> None:
    prepared = prepared_manifest(manifest(), OWNER)
    assert prepared["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Workload",
            "name": "checkout",
            "uid": "0b7c-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    annotations = prepared["metadata"]["annotations"]
    assert set(annotations) == {APPLIED_HASH_ANNOTATION}
    assert applied_hash(prepared) == annotations[APPLIED_HASH_ANNOTATION]
    assert prepared["spec"] == manifest()["spec"]
    assert owned_by(prepared, "0b7c-uid")
    assert not owned_by(prepared, "other-uid")


def test_prepared_manifest_without_owner_has_no_owner_reference() -> None:
    prepared = prepared_manifest(manifest())
    assert "ownerReferences" not in prepared["metadata"]
    assert applied_hash(prepared) is not None


def test_prepared_manifest_does_not_mutate_its_input() -> None:
    original = manifest()
    original["metadata"]["annotations"] = {"team": "payments"}
    snapshot = copy.deepcopy(original)
    prepared = prepared_manifest(original, OWNER)
    assert original == snapshot
    # Its metadata is its own; the rest is shared with the manifest render made fresh
    # for this reconcile (copying it each time cost a good part of a reconcile's CPU).
    prepared["metadata"]["annotations"]["team"] = "changed"
    prepared["metadata"]["labels"] = {"x": "y"}
    assert original == snapshot


def test_prepared_manifest_keeps_other_annotations() -> None:
    original = manifest()
    original["metadata"]["annotations"] = {"team": "payments"}
    prepared = prepared_manifest(original, OWNER)
    assert prepared["metadata"]["annotations"]["team"] == "payments"


def test_hash_is_independent_of_a_previous_hash_annotation() -> None:
    once = prepared_manifest(manifest(), OWNER)
    twice = prepared_manifest(once, OWNER)
    assert applied_hash(twice) == applied_hash(once)
    stale = manifest()
    stale["metadata"]["annotations"] = {APPLIED_HASH_ANNOTATION: "0" * 32}
    assert applied_hash(prepared_manifest(stale, OWNER)) == applied_hash(once)


def test_hash_depends_on_owner_and_content() -> None:
    other_owner = copy.deepcopy(OWNER)
    other_owner["metadata"]["uid"] = "another-uid"
    changed = manifest()
    changed["spec"]["replicas"] = 5
    hashes = {
        applied_hash(prepared_manifest(manifest(), OWNER)),
        applied_hash(prepared_manifest(manifest(), other_owner)),
        applied_hash(prepared_manifest(changed, OWNER)),
    }
    assert len(hashes) == 3


# -- untouched_since_our_apply --------------------------------------------------------------

APPLIED_AT = "2024-05-01T10:00:00Z"


def our_apply(time: str = APPLIED_AT) -> dict[str, Any]:
    return {
        "manager": FIELD_MANAGER,
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {
                "f:annotations": {f"f:{APPLIED_HASH_ANNOTATION}": {}},
                "f:labels": {"f:berth.dev/workload": {}},
                "f:ownerReferences": {'k:{"uid":"0b7c-uid"}': {}},
            },
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {}},
        },
    }


def status_update(time: str = "2024-05-01T10:00:30Z") -> dict[str, Any]:
    return {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:status": {
                "f:availableReplicas": {},
                "f:conditions": {".": {}, 'k:{"type":"Available"}': {}},
                "f:readyReplicas": {},
                "f:replicas": {},
            }
        },
        "subresource": "status",
    }


def revision_annotation(time: str = "2024-05-01T10:00:01Z") -> dict[str, Any]:
    return {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}
        },
    }


def kubectl_scale() -> dict[str, Any]:
    return {
        "manager": "kubectl",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
        "subresource": "scale",
    }


def kubectl_edit(time: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "manager": "kubectl-edit",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields
        or {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"main"}': {}}}}}},
    }


def live(*entries: dict[str, Any]) -> dict[str, Any]:
    obj = prepared_manifest(manifest(), OWNER)
    obj["metadata"]["managedFields"] = list(entries)
    obj["metadata"]["resourceVersion"] = "1234"
    return obj


DESIRED = prepared_manifest(manifest(), OWNER)


def test_only_our_apply_is_untouched() -> None:
    assert untouched_since_our_apply(live(our_apply()), DESIRED)


def test_status_subresource_writes_are_ignored() -> None:
    assert untouched_since_our_apply(live(our_apply(), status_update()), DESIRED)


def test_deployment_controller_revision_annotation_is_ignored() -> None:
    obj = live(our_apply(), revision_annotation(), status_update())
    assert untouched_since_our_apply(obj, DESIRED)


def test_kubectl_scale_without_time_counts() -> None:
    assert not untouched_since_our_apply(live(our_apply(), kubectl_scale()), DESIRED)


def test_newer_kubectl_edit_of_spec_counts() -> None:
    obj = live(our_apply(), kubectl_edit("2024-05-01T10:05:00Z"))
    assert not untouched_since_our_apply(obj, DESIRED)


def test_kubectl_edit_in_the_same_second_counts() -> None:
    assert not untouched_since_our_apply(live(our_apply(), kubectl_edit(APPLIED_AT)), DESIRED)


def test_older_kubectl_edit_does_not_count() -> None:
    obj = live(kubectl_edit("2024-05-01T09:00:00Z"), our_apply())
    assert untouched_since_our_apply(obj, DESIRED)


def test_newer_edit_of_our_annotation_counts() -> None:
    edit = kubectl_edit(
        "2024-05-01T10:05:00Z",
        {"f:metadata": {"f:annotations": {f"f:{APPLIED_HASH_ANNOTATION}": {}}}},
    )
    assert not untouched_since_our_apply(live(our_apply(), edit), DESIRED)


def test_newer_edit_of_labels_counts() -> None:
    edit = kubectl_edit("2024-05-01T10:05:00Z", {"f:metadata": {"f:labels": {"f:extra": {}}}})
    assert not untouched_since_our_apply(live(our_apply(), edit), DESIRED)


def test_no_berth_apply_entry_is_not_untouched() -> None:
    assert not untouched_since_our_apply(live(status_update()), DESIRED)
    assert not untouched_since_our_apply(live(), DESIRED)
    # our manager through a subresource is not our apply of the object
    status_by_us = {**our_apply(), "subresource": "status"}
    assert not untouched_since_our_apply(live(status_by_us), DESIRED)


# -- same_as_live ---------------------------------------------------------------------------


def server_side(obj: dict[str, Any]) -> dict[str, Any]:
    """What the server adds: defaults, bookkeeping, status."""
    result = copy.deepcopy(obj)
    result["metadata"].update(
        {"resourceVersion": "99", "uid": "d-uid", "generation": 3, "managedFields": [our_apply()]}
    )
    result["status"] = {"replicas": 2}
    return result


def test_same_as_live_when_only_server_fields_differ() -> None:
    would_be = server_side(DESIRED)
    current = server_side(DESIRED)
    current["metadata"]["resourceVersion"] = "100"
    current["metadata"]["managedFields"].append(status_update())
    current["status"] = {"replicas": 1, "readyReplicas": 1}
    assert same_as_live(would_be, current, DESIRED)


def test_not_same_when_spec_differs() -> None:
    would_be = server_side(DESIRED)
    current = server_side(DESIRED)
    current["spec"]["replicas"] = 5  # kubectl scale
    assert not same_as_live(would_be, current, DESIRED)


def test_not_same_when_labels_annotations_or_owners_differ() -> None:
    for part, value in (
        ("labels", {"berth.dev/workload": "other"}),
        ("annotations", {APPLIED_HASH_ANNOTATION: "stale"}),
        ("ownerReferences", []),
    ):
        current = server_side(DESIRED)
        current["metadata"][part] = value
        assert not same_as_live(server_side(DESIRED), current, DESIRED), part


def test_fields_we_do_not_write_are_not_compared() -> None:
    would_be = server_side(DESIRED)
    current = server_side(DESIRED)
    # a top-level field not in our manifest, set by someone else on both
    would_be["extra"] = "a"
    current["extra"] = "b"
    assert same_as_live(would_be, current, DESIRED)


def berth_apply_of(labels: dict[str, str]) -> dict[str, Any]:
    """Berth's managedFields entry of a server-side apply that set ``labels``."""
    return {
        "manager": FIELD_MANAGER,
        "operation": "Apply",
        "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}}},
    }


def existing(
    labels: dict[str, str],
    owner: dict[str, Any] | None = None,
    *,
    berth_wrote: bool = False,
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"manager": "kubectl-client-side-apply"}]
    if berth_wrote:
        entries.append(berth_apply_of(labels))
    meta: dict[str, Any] = {"name": "web", "labels": labels, "managedFields": entries}
    if owner is not None:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta}


WEB = {"apiVersion": "berth.dev/v1alpha1", "kind": "Workload", "metadata": {"name": "web"}}
OURS = {"app.kubernetes.io/managed-by": "berth", "berth.dev/workload": "web"}


def test_an_object_nobody_gave_us_is_foreign() -> None:
    owner = foreign_owner(existing({"app": "platform"}), WEB)
    assert owner == "nobody Berth knows (written by kubectl-client-side-apply)"


def test_another_workloads_child_is_foreign() -> None:
    labels = {**OURS, "berth.dev/workload": "other"}
    assert foreign_owner(existing(labels), WEB) == "Workload other"
    ref = {"kind": "Workload", "name": "other", "uid": "u2"}
    assert foreign_owner(existing(OURS, ref), WEB) == "Workload other"


def test_a_resources_object_is_foreign_even_with_our_workload_label() -> None:
    labels = {**OURS, "berth.dev/resource": "cache"}
    assert foreign_owner(existing(labels), WEB) == "the resource 'cache' of Workload web"


def test_our_own_child_is_ours_also_from_a_former_workload_of_the_name() -> None:
    assert foreign_owner(existing(OURS, berth_wrote=True), WEB) is None
    ref = {"kind": "Workload", "name": "web", "uid": "an-older-uid"}
    assert foreign_owner(existing(OURS, ref, berth_wrote=True), WEB) is None


def test_our_labels_written_by_someone_else_make_nothing_ours() -> None:
    assert foreign_owner(existing(OURS), WEB) == (
        "nobody Berth knows: it carries Berth's labels, but Berth did not write them "
        "(written by kubectl-client-side-apply)"
    )
    # Not even with a former Workload of the name as its controller: someone wrote that.
    ref = {"kind": "Workload", "name": "web", "uid": "an-older-uid"}
    assert foreign_owner(existing(OURS, ref), WEB) is not None


def test_berths_apply_must_own_the_inventory_label_itself() -> None:
    """Berth applied the object once, and someone relabelled it for this Workload since:
    the label's value is theirs, and so is the object."""
    obj = existing(OURS)
    obj["metadata"]["managedFields"] = [
        berth_apply_of({"app.kubernetes.io/managed-by": "berth"}),
        {
            "manager": "kubectl-label",
            "operation": "Update",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:berth.dev/workload": {}}}},
        },
    ]
    assert foreign_owner(obj, WEB) is not None
    # An apply entry of Berth's on a subresource, or an Update under Berth's name, is no
    # apply of the object by Berth.
    for entry in ({"subresource": "status"}, {"operation": "Update"}):
        obj["metadata"]["managedFields"] = [{**berth_apply_of(OURS), **entry}]
        assert foreign_owner(obj, WEB) is not None, entry


def test_a_child_of_this_very_workload_is_ours_whatever_its_labels() -> None:
    owner = {**WEB, "metadata": {"name": "web", "uid": "u1"}}
    ref = {"kind": "Workload", "name": "web", "uid": "u1"}
    relabelled = {**OURS, "berth.dev/workload": "other"}
    assert foreign_owner(existing(relabelled, ref), owner) is None


def test_another_writers_labels_and_annotations_are_not_compared() -> None:
    current = server_side(DESIRED)
    current["metadata"]["labels"] = {**current["metadata"]["labels"], "audit.acme.dev/seen": "7"}
    current["metadata"]["annotations"] = {**current["metadata"]["annotations"], "x": "y"}
    would_be = server_side(DESIRED)
    would_be["metadata"]["labels"] = {**would_be["metadata"]["labels"], "audit.acme.dev/seen": "6"}
    assert same_as_live(would_be, current, DESIRED)
