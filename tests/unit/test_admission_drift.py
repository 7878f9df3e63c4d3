"""admission/policies.yaml is exactly what the rules generate, and the chart ships it as
it is: the policies the API server runs cannot drift from the operator's rules."""

from __future__ import annotations

from pathlib import Path

import yaml

from berth.render.admission import (
    ADMISSION_FILENAME,
    admission_files,
    admission_manifests,
    binding_name,
    environment_bindings,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "admission"
SHIPPED = ROOT / "charts" / "berth" / "admission"


def test_admission_files_match_the_rules() -> None:
    for name, text in admission_files().items():
        assert (GENERATED / name).read_text(encoding="utf-8") == text, (
            f"admission/{name} differs from berth.render.admission: run `make crds`"
        )
    assert sorted(p.name for p in GENERATED.glob("*.yaml")) == sorted(admission_files())


def test_the_chart_ships_the_generated_files() -> None:
    for name in admission_files():
        assert (SHIPPED / name).read_bytes() == (GENERATED / name).read_bytes(), (
            f"charts/berth/admission/{name} differs from admission/: run `make chart-crds`"
        )


def test_the_policies_file_holds_the_policies_and_only_the_environment_binding() -> None:
    documents = list(yaml.safe_load_all((GENERATED / ADMISSION_FILENAME).read_text()))
    assert documents == admission_manifests()
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("ValidatingAdmissionPolicy", "berth-environment-required"),
        ("ValidatingAdmissionPolicyBinding", "berth-environment-required"),
        ("ValidatingAdmissionPolicy", "berth-policy-deny"),
        ("ValidatingAdmissionPolicy", "berth-policy-warn"),
        ("ValidatingAdmissionPolicy", "berth-policy-audit"),
    ]


def test_each_environment_gets_one_binding_per_level_owned_by_it() -> None:
    bindings = environment_bindings("team-a-dev", "uid-1")
    assert [b["metadata"]["name"] for b in bindings] == [
        "berth-policy-deny.team-a-dev",
        "berth-policy-warn.team-a-dev",
        "berth-policy-audit.team-a-dev",
    ]
    for binding, level in zip(bindings, ("Deny", "Warn", "Audit"), strict=True):
        assert binding["spec"] == {
            "policyName": f"berth-policy-{level.lower()}",
            "validationActions": [level],
            "paramRef": {"name": "team-a-dev", "parameterNotFoundAction": "Allow"},
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"berth.dev/environment": "team-a-dev"}}
            },
        }
        [owner] = binding["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Environment",
            "team-a-dev",
            "uid-1",
        )
    long = "e" * 253
    names = [binding_name(level, long) for level in ("Deny", "Warn", "Audit")]
    assert all(len(name) == 253 for name in names)
    assert len(set(names)) == 3


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
