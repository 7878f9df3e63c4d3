"""Whose a provisioned object is (berth.kube.ownership): Berth's apply must own its
resource label, and the label must name this resource."""

from __future__ import annotations

from typing import Any

from berth.kube.ownership import foreign_resource_owner, writers

LABEL = "berth.dev/resource"


def obj(labels: dict[str, str], *entries: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": labels, "managedFields": list(entries)}}


def berth_apply(*labels: str) -> dict[str, Any]:
    fields = {"f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}}}
    return {"manager": "berth", "operation": "Apply", "fieldsV1": fields}


def test_a_resource_object_is_ours_only_when_berth_applied_its_label_naming_it() -> None:
    assert foreign_resource_owner(obj({LABEL: "db-1"}, berth_apply(LABEL)), "db-1", LABEL) is None
    assert (
        foreign_resource_owner(obj({LABEL: "db-2"}, berth_apply(LABEL)), "db-1", LABEL)
        == "the resource 'db-2'"
    )
    spoofed = obj({LABEL: "db-1"}, {"manager": "kubectl-label", "operation": "Update"})
    assert foreign_resource_owner(spoofed, "db-1", LABEL) == (
        "nobody Berth knows: it carries Berth's labels, but Berth did not write them "
        "(written by kubectl-label)"
    )
    assert foreign_resource_owner(obj({}), "db-1", LABEL) == "nobody Berth knows"
    assert writers(obj({}, {"manager": "b"}, {"manager": "a"}, {})) == ["a", "b"]
