"""What the caches keep of each object: only what the reconciles read."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from berth.handlers.cache import slim_owner
from berth.kube.children import SLIM, slim_child, untouched_since_our_apply
from berth.names import LAST_APPLIED_ANNOTATION
from tests.unit.test_kube_children import (
    DESIRED,
    kubectl_edit,
    kubectl_scale,
    live,
    our_apply,
    revision_annotation,
    status_update,
)

CASES = {
    "ours only": ((our_apply(),), True),
    "status writes": ((our_apply(), status_update()), True),
    "revision annotation": ((our_apply(), revision_annotation(), status_update()), True),
    "kubectl scale": ((our_apply(), kubectl_scale()), False),
    "newer edit of the spec": ((our_apply(), kubectl_edit("2024-05-01T10:05:00Z")), False),
    "older edit": ((kubectl_edit("2024-05-01T09:00:00Z"), our_apply()), True),
    "newer edit of labels": (
        (our_apply(), kubectl_edit("2024-05-01T10:05:00Z", {"f:metadata": {"f:labels": {}}})),
        False,
    ),
    "newer edit of our annotation": (
        (
            our_apply(),
            kubectl_edit(
                "2024-05-01T10:05:00Z",
                {"f:metadata": {"f:annotations": {"f:berth.dev/applied-hash": {}}}},
            ),
        ),
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_slim_child_tells_who_touched_it_as_the_whole_one_does(case: str) -> None:
    entries, untouched = CASES[case]
    whole = live(*entries)
    assert untouched_since_our_apply(whole, DESIRED) is untouched
    assert untouched_since_our_apply(slim_child(whole), DESIRED) is untouched


def deployment() -> dict[str, Any]:
    obj = live(our_apply(), status_update())
    obj["spec"]["replicas"] = 2
    obj["status"] = {"observedGeneration": 3, "replicas": 2, "readyReplicas": 2}
    obj["metadata"]["generation"] = 3
    return obj


def test_a_slim_deployment_keeps_what_its_rollout_is_read_from() -> None:
    whole = deployment()
    slim = slim_child(whole)
    assert slim[SLIM] is True
    assert slim["spec"] == {"replicas": 2}
    assert slim["status"] == whole["status"]
    for key in ("name", "namespace", "uid", "resourceVersion", "generation", "labels"):
        assert slim["metadata"].get(key) == whole["metadata"].get(key), key
    assert slim["metadata"]["annotations"] == whole["metadata"]["annotations"]
    assert slim["metadata"]["ownerReferences"] == whole["metadata"]["ownerReferences"]
    assert "template" in whole["spec"]
    # Field by field detail of who wrote what: only its top level is kept, and the names
    # of the labels (whose they are: berth.kube.ownership) and annotations.
    ours = slim["metadata"]["managedFields"][0]["fieldsV1"]
    assert ours["f:spec"] == {}
    assert set(ours["f:metadata"]) == {"f:annotations", "f:labels", "f:ownerReferences"}
    whole_labels = whole["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]["f:labels"]
    assert ours["f:metadata"]["f:labels"] == {k: {} for k in whole_labels}
    assert len(json.dumps(slim)) < len(json.dumps(whole))


def test_a_slim_service_or_configmap_has_no_spec_or_data() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "n", "resourceVersion": "1"},
        "data": {"big": "x" * 10000},
    }
    slim = slim_child(cm)
    assert "data" not in slim
    assert "spec" not in slim
    assert slim["metadata"]["managedFields"] == []


def test_an_owner_keeps_all_but_managed_fields_and_kubectls_copy() -> None:
    body = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {
            "name": "w",
            "namespace": "n",
            "uid": "u",
            "generation": 2,
            "finalizers": ["berth.dev/cleanup"],
            "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "team": "a"},
            "managedFields": [our_apply()],
        },
        "spec": {"containers": {"main": {"image": "x"}}},
        "status": {"observedGeneration": 2},
    }
    original = copy.deepcopy(body)
    slim = slim_owner(body)
    assert body == original  # not changed in place
    # who writes what, one level deep: enough to tell a preview's copy from its own
    assert slim["metadata"]["managedFields"] == [
        {
            "manager": our_apply()["manager"],
            "operation": our_apply()["operation"],
            "fieldsV1": {key: {} for key in our_apply()["fieldsV1"]},
        }
    ]
    assert slim["metadata"]["annotations"] == {"team": "a"}
    assert {k: v for k, v in slim.items() if k != "metadata"} == {
        k: v for k, v in body.items() if k != "metadata"
    }
    assert slim["metadata"]["finalizers"] == ["berth.dev/cleanup"]
