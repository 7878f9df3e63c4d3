"""admission/policies.yaml is exactly what the rules generate, and the chart ships it as
it is: the policies the API server runs cannot drift from the operator's rules."""

from __future__ import annotations

from pathlib import Path

import yaml

from berth.render.admission import ADMISSION_FILENAME, admission_manifests, dump_admission

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "admission" / ADMISSION_FILENAME
SHIPPED = ROOT / "charts" / "berth" / "admission" / ADMISSION_FILENAME


def test_admission_policies_match_the_rules() -> None:
    assert GENERATED.read_text(encoding="utf-8") == dump_admission(), (
        "admission/policies.yaml differs from berth.render.admission: run `make crds`"
    )


def test_the_chart_ships_the_generated_policies() -> None:
    assert SHIPPED.read_bytes() == GENERATED.read_bytes(), (
        "charts/berth/admission/policies.yaml differs from admission/: run `make chart-crds`"
    )


def test_the_file_holds_every_policy_before_its_binding() -> None:
    documents = list(yaml.safe_load_all(GENERATED.read_text(encoding="utf-8")))
    assert documents == admission_manifests()
    kinds = [(d["kind"], d["metadata"]["name"]) for d in documents]
    assert kinds == [
        ("ValidatingAdmissionPolicy", "berth-environment-required"),
        ("ValidatingAdmissionPolicyBinding", "berth-environment-required"),
        ("ValidatingAdmissionPolicy", "berth-policy-deny"),
        ("ValidatingAdmissionPolicyBinding", "berth-policy-deny"),
        ("ValidatingAdmissionPolicy", "berth-policy-warn"),
        ("ValidatingAdmissionPolicyBinding", "berth-policy-warn"),
        ("ValidatingAdmissionPolicy", "berth-policy-audit"),
        ("ValidatingAdmissionPolicyBinding", "berth-policy-audit"),
    ]
    actions = {
        d["metadata"]["name"]: d["spec"]["validationActions"]
        for d in documents
        if d["kind"] == "ValidatingAdmissionPolicyBinding"
    }
    assert actions == {
        "berth-environment-required": ["Deny"],
        "berth-policy-deny": ["Deny"],
        "berth-policy-warn": ["Warn"],
        "berth-policy-audit": ["Audit"],
    }


def test_only_spec_writes_are_checked() -> None:
    # Status, finalizer and label writes on a Workload that already breaks a rule pass;
    # deletion is not matched at all.
    for document in admission_manifests():
        if document["kind"] != "ValidatingAdmissionPolicy":
            continue
        spec = document["spec"]
        (rule,) = spec["matchConstraints"]["resourceRules"]
        assert rule["resources"] == ["workloads"]
        assert rule["operations"] == ["CREATE", "UPDATE"]
        conditions = {c["name"]: c["expression"] for c in spec["matchConditions"]}
        assert conditions["spec-written"] == "oldObject == null || object.spec != oldObject.spec"
