"""The generated CRDs: structural, complete, deterministic; and the converter itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, Field, StringConstraints

from berth.api.crdgen import (
    HEADER,
    CRDGenError,
    build_crds,
    crd_filename,
    dump_crd,
    structural_schema,
)

LOGICAL = ("anyOf", "allOf", "oneOf", "not")
# What Kubernetes forbids inside logical junctors (except the int-or-string pattern).
FORBIDDEN_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")


def structural_problems(schema: Any, path: str = "", in_junctor: bool = False) -> list[str]:
    """Violations of Kubernetes' structural schema rules, checked recursively."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: not an object"]
    if "$ref" in schema:
        problems.append(f"{path}: $ref")
    if "$defs" in schema or "definitions" in schema:
        problems.append(f"{path}: $defs")
    if "propertyNames" in schema or "patternProperties" in schema:
        problems.append(f"{path}: propertyNames/patternProperties are not supported")
    if "nullable" in schema:
        problems.append(f"{path}: nullable")
    escape = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if not in_junctor:
        if "type" not in schema and not escape:
            problems.append(f"{path}: no type")
        if isinstance(schema.get("type"), list):
            problems.append(f"{path}: several types")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties and additionalProperties together")
    if schema.get("type") == "array" and "items" not in schema:
        problems.append(f"{path}: array without items")
    for junctor in LOGICAL:
        if junctor not in schema:
            continue
        if "type" in schema:
            problems.append(f"{path}: {junctor} with a type at both levels")
        branches = schema[junctor] if isinstance(schema[junctor], list) else [schema[junctor]]
        int_or_string = schema.get("x-kubernetes-int-or-string") and junctor == "anyOf"
        for index, branch in enumerate(branches):
            for key in FORBIDDEN_IN_JUNCTORS:
                if key in branch and not (int_or_string and key == "type"):
                    problems.append(f"{path}.{junctor}[{index}]: {key} inside a junctor")
            problems.extend(structural_problems(branch, f"{path}.{junctor}[{index}]", True))
    for name, child in (schema.get("properties") or {}).items():
        problems.extend(structural_problems(child, f"{path}.{name}", in_junctor))
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        problems.extend(structural_problems(additional, f"{path}[*]", in_junctor))
    elif additional is not None:
        problems.append(f"{path}: additionalProperties must be a schema")
    if "items" in schema:
        problems.extend(structural_problems(schema["items"], f"{path}[]", in_junctor))
    return problems


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}[*]")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")


def crd(kind: str) -> dict[str, Any]:
    return next(c for c in build_crds() if c["spec"]["names"]["kind"] == kind)


def schema_of(kind: str) -> dict[str, Any]:
    root: dict[str, Any] = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def rules(node: dict[str, Any]) -> list[str]:
    return [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]


# -- the structural check itself -----------------------------------------------------------


def test_structural_check_catches_violations() -> None:
    assert structural_problems({"type": "object", "properties": {"a": {}}}) == [".a: no type"]
    assert structural_problems({"$ref": "#/x"}) == [": $ref", ": no type"]
    assert structural_problems(
        {"type": "string", "anyOf": [{"type": "string"}, {"type": "integer"}]}
    ) == [
        ": anyOf with a type at both levels",
        ".anyOf[0]: type inside a junctor",
        ".anyOf[1]: type inside a junctor",
    ]
    assert structural_problems(
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {}}
    ) == [": properties and additionalProperties together", "[*]: no type"]
    assert (
        structural_problems(
            {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        )
        == []
    )
    assert structural_problems({"x-kubernetes-preserve-unknown-fields": True}) == []


@pytest.mark.parametrize("kind", ["Workload", "Environment"])
def test_generated_schemas_are_structural(kind: str) -> None:
    assert structural_problems(schema_of(kind)) == []


@pytest.mark.parametrize("kind", ["Workload", "Environment"])
def test_no_refs_or_pydantic_leftovers(kind: str) -> None:
    text = json.dumps(schema_of(kind))
    for leftover in ('"$ref"', '"$defs"', '"title"', '"const"', '"propertyNames"', '"null"'):
        assert leftover not in text


@pytest.mark.parametrize("kind", ["Workload", "Environment"])
@pytest.mark.parametrize("part", ["spec", "status"])
def test_every_field_has_a_description(kind: str, part: str) -> None:
    missing = [
        path
        for path, node in walk(schema_of(kind)["properties"][part], part)
        if "description" not in node and not path.endswith("[*]") and not path.endswith("[]")
    ]
    assert missing == []


# -- what the Workload CRD says ------------------------------------------------------------


def test_workload_crd_names_and_version() -> None:
    workload = crd("Workload")
    assert workload["apiVersion"] == "apiextensions.k8s.io/v1"
    assert workload["metadata"]["name"] == "workloads.berth.dev"
    spec = workload["spec"]
    assert spec["group"] == "berth.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "Workload",
        "listKind": "WorkloadList",
        "plural": "workloads",
        "singular": "workload",
        "shortNames": ["wl"],
        "categories": ["berth"],
    }
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_workload_printer_columns() -> None:
    columns = crd("Workload")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0)) for c in columns] == [
        ("Environment", "string", ".status.environment", 0),
        ("Source", "string", ".metadata.labels.berth\\.dev/copy-of", 0),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', 0),
        ("Status", "string", '.status.conditions[?(@.type=="Ready")].reason', 0),
        ("Replicas", "string", ".status.replicas.summary", 0),
        ("URL", "string", ".status.url", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Endpoint", "string", ".status.endpoint", 1),
        ("Revision", "string", ".status.revision.name", 1),
    ]
    # every column reads a field the status schema has
    status = schema_of("Workload")["properties"]["status"]
    assert at(status, "replicas.summary")["type"] == "string"
    assert at(status, "url")["type"] == "string"
    assert at(status, "revision.name")["type"] == "string"


def status_of_environment() -> dict[str, Any]:
    status: dict[str, Any] = schema_of("Environment")["properties"]["status"]
    return status


def test_preview_crd_names_and_columns() -> None:
    preview = crd("Preview")
    spec = preview["spec"]
    assert preview["metadata"]["name"] == "previews.berth.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["prev"]
    columns = spec["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == [
        ("Preview-Namespace", ".status.namespace"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Status", '.status.conditions[?(@.type=="Ready")].reason'),
        ("Expires", ".status.expiresAt"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    ttl = at(schema_of("Preview")["properties"]["spec"], "ttl")
    assert ttl["pattern"] == "^([0-9]{1,5}(s|m|h|d))+$"


def test_environment_rules_of_previews() -> None:
    rules = [r["rule"] for r in schema_of("Environment")["x-kubernetes-validations"]]
    assert "!has(self.spec.preview) || self.spec.preview.base != self.metadata.name" in rules
    spec_rules = [
        r["rule"]
        for r in schema_of("Environment")["properties"]["spec"]["x-kubernetes-validations"]
    ]
    assert "(self.type == 'preview') == has(self.preview)" in spec_rules
    assert "!(self.type == 'preview' && has(self.previews))" in spec_rules
    # No server-side defaults where a preview inherits: what is stored is what was written.
    spec = schema_of("Environment")["properties"]["spec"]
    for section in ("defaults", "policy"):
        for prop in at(spec, section)["properties"].values():
            assert "default" not in prop


def test_environment_crd_names_and_columns() -> None:
    environment = crd("Environment")
    spec = environment["spec"]
    assert environment["metadata"]["name"] == "environments.berth.dev"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["shortNames"] == ["env"]
    assert spec["names"]["categories"] == ["berth"]
    columns = spec["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0)) for c in columns] == [
        ("Type", "string", ".spec.type", 0),
        ("Namespace", "string", ".spec.namespace", 0),
        ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', 0),
        ("Workloads", "integer", ".status.workloads", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Ready-Workloads", "integer", ".status.readyWorkloads", 1),
        ("Base", "string", ".spec.preview.base", 1),
        ("Expires", "string", ".status.preview.expiresAt", 1),
    ]
    assert at(status_of_environment(), "preview.expiresAt")["format"] == "date-time"
    status = schema_of("Environment")["properties"]["status"]
    assert at(status, "workloads")["type"] == "integer"
    assert at(status, "readyWorkloads")["type"] == "integer"


DNS_LABEL_RULE = "self.all(k, size(k) <= 63 && k.matches(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))"


def test_workload_validation_rules() -> None:
    spec = schema_of("Workload")["properties"]["spec"]
    containers = at(spec, "containers")
    assert containers["minProperties"] == 1
    assert rules(containers) == [DNS_LABEL_RULE]
    assert rules(at(spec, "resources")) == [DNS_LABEL_RULE]
    # the message names the offending key
    (rule,) = containers["x-kubernetes-validations"]
    assert rule["message"].startswith("container names must be a DNS-1123 label")
    assert rule["messageExpression"] == (
        f'"{rule["message"]}: " + self.filter(k, !({DNS_LABEL_RULE[12:-1]}))[0]'
    )
    ports = at(spec, "service.ports")
    assert rules(ports) == [
        "self.all(k, size(k) <= 15 && "
        "k.matches(r'^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$'))"
    ]
    port = at(spec, "service.ports.*")
    assert port["required"] == ["port"]
    for field in ("port", "targetPort"):
        assert (port["properties"][field]["minimum"], port["properties"][field]["maximum"]) == (
            1,
            65535,
        )
    assert port["properties"]["protocol"] == {
        "type": "string",
        "enum": ["TCP", "UDP", "SCTP"],
        "default": "TCP",
        "description": "Transport protocol.",
    }
    assert at(spec, "replicas")["minimum"] == 0
    variables = at(spec, "containers.*.variables")
    assert "self.all(k, !k.startsWith('BERTH_SECRET_'))" in rules(variables)
    name_rule = rules(schema_of("Workload"))
    assert name_rule == [
        "size(self.metadata.name) <= 63 && "
        "self.metadata.name.matches(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')"
    ]


def test_files_volumes_and_params_are_preserved_with_a_description() -> None:
    spec = schema_of("Workload")["properties"]["spec"]
    for path in ("containers.*.files", "containers.*.volumes"):
        node = at(spec, path)
        assert node["x-kubernetes-preserve-unknown-fields"] is True
        assert "type" not in node
        assert "or a list of those objects each with a target key" in node["description"]
    params = at(spec, "resources.*.params")
    assert params["type"] == "object"
    assert params["x-kubernetes-preserve-unknown-fields"] is True
    metadata = at(spec, "metadata")
    assert metadata["x-kubernetes-preserve-unknown-fields"] is True
    assert "annotations" in metadata["properties"]


def test_quantities_are_int_or_string() -> None:
    spec = schema_of("Workload")["properties"]["spec"]
    quantity = at(spec, "containers.*.resources.limits.*")
    assert quantity["x-kubernetes-int-or-string"] is True
    assert quantity["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert quantity["pattern"].startswith("^(\\+|-)?")
    assert "type" not in quantity


def test_resource_class_uses_its_wire_name() -> None:
    spec = schema_of("Workload")["properties"]["spec"]
    resource = at(spec, "resources.*")
    assert "class" in resource["properties"]
    assert "class_" not in resource["properties"]
    assert resource["required"] == ["type"]


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    for kind in ("Workload", "Environment"):
        conditions = schema_of(kind)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        item = conditions["items"]
        assert item["required"] == ["type", "status"]
        assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
        assert item["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_status_is_modelled_not_preserved() -> None:
    for kind in ("Workload", "Environment"):
        status = schema_of(kind)["properties"]["status"]
        assert "x-kubernetes-preserve-unknown-fields" not in status
        # only kopf's own bookkeeping is free-form
        preserved = [
            path for path, node in walk(status) if node.get("x-kubernetes-preserve-unknown-fields")
        ]
        assert preserved == [".kopf"]


# -- what the Environment CRD says ---------------------------------------------------------


def test_environment_validation_rules() -> None:
    spec = schema_of("Environment")["properties"]["spec"]
    assert spec["required"] == ["type", "namespace"]
    namespace = at(spec, "namespace")
    assert namespace["x-kubernetes-validations"] == [
        {
            "rule": "self == oldSelf",
            "message": "namespace is immutable; create a new Environment instead",
        }
    ]
    assert namespace["pattern"] == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    assert at(spec, "type")["enum"] == ["development", "staging", "production", "preview"]
    assert at(spec, "deletionPolicy")["enum"] == ["Delete", "Retain", "Orphan"]
    assert "default" not in at(spec, "deletionPolicy")
    assert at(spec, "policy.maxReplicas")["minimum"] == 0
    # (no server-side defaults in policy and defaults: test_environment_rules_of_previews)
    assert "default" not in at(spec, "policy.requireLimits")
    assert at(spec, "policy.maxReplicas")["maximum"] == 2**31 - 1
    assert at(spec, "policy.podSecurity")["enum"] == ["restricted", "baseline"]
    assert at(spec, "defaults.replicas") == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**31 - 1,
        "description": "Replicas of a Workload that sets none.",
    }
    provisioner = at(spec, "provisioners")["items"]
    assert provisioner["required"] == ["type"]
    assert rules(provisioner) == [
        "[has(self.crossplane), has(self.template), has(self.secret)].filter(x, x).size() == 1"
    ]
    for kind in ("crossplane", "template", "secret"):
        assert provisioner["properties"][kind] == {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": provisioner["properties"][kind]["description"],
        }


# -- the converter -------------------------------------------------------------------------


class _Inner(BaseModel):
    """Inner doc."""

    value: int = Field(3, ge=1, description="A value.")


class _Sample(BaseModel):
    keyed: dict[Annotated[str, StringConstraints(pattern="^[a-z]+$", max_length=5)], _Inner]
    maybe: _Inner | None = Field(None, description="Site description wins.")
    choice: Literal["a", "b"] = "a"
    only: Literal["x"] = "x"
    number: int | str = 1
    free: dict[str, Any] = Field(default_factory=dict)


def test_converter_inlines_refs_and_flattens_optionals() -> None:
    schema = structural_schema(_Sample.model_json_schema())
    assert structural_problems(schema) == []
    assert schema["properties"]["maybe"] == {
        "type": "object",
        "description": "Site description wins.",
        "properties": {
            "value": {
                "type": "integer",
                "minimum": 1,
                "default": 3,
                "description": "A value.",
            }
        },
    }
    assert schema["properties"]["keyed"]["additionalProperties"]["description"] == "Inner doc."
    assert schema["properties"]["keyed"]["x-kubernetes-validations"] == [
        {
            "rule": "self.all(k, size(k) <= 5 && k.matches(r'^[a-z]+$'))",
            "message": "keys must match ^[a-z]+$",
            "messageExpression": '"keys must match ^[a-z]+$: " + '
            "self.filter(k, !(size(k) <= 5 && k.matches(r'^[a-z]+$')))[0]",
        }
    ]
    assert schema["properties"]["choice"] == {"type": "string", "enum": ["a", "b"], "default": "a"}
    assert schema["properties"]["only"] == {"type": "string", "enum": ["x"], "default": "x"}
    assert schema["properties"]["number"] == {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "default": 1,
    }
    assert schema["properties"]["free"] == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert schema["required"] == ["keyed"]


class _BadUnion(BaseModel):
    either: int | list[str]


class _Untyped(BaseModel):
    anything: Any


def test_converter_refuses_what_it_cannot_express() -> None:
    with pytest.raises(CRDGenError, match=r"either: a union the CRD schema cannot express"):
        structural_schema(_BadUnion.model_json_schema())
    with pytest.raises(CRDGenError, match="anything: a schema without a type"):
        structural_schema(_Untyped.model_json_schema())


# -- files -----------------------------------------------------------------------------------


def test_build_is_deterministic_and_pure() -> None:
    first = [dump_crd(c) for c in build_crds()]
    second = [dump_crd(c) for c in build_crds()]
    assert first == second
    crds = build_crds()
    crds[0]["spec"]["versions"][0]["additionalPrinterColumns"].clear()
    assert build_crds()[0]["spec"]["versions"][0]["additionalPrinterColumns"]


def test_dump_has_the_header_and_is_valid_yaml() -> None:
    for definition in build_crds():
        text = dump_crd(definition)
        assert text.startswith(HEADER)
        assert HEADER == "# generated by `make crds` from operator/berth/api; do not edit\n"
        assert yaml.safe_load(text) == definition


def test_filenames() -> None:
    assert [crd_filename(c) for c in build_crds()] == [
        "berth.dev_workloads.yaml",
        "berth.dev_environments.yaml",
        "berth.dev_clusterprovisioners.yaml",
        "berth.dev_previews.yaml",
        "berth.dev_workloadrevisions.yaml",
        "berth.dev_promotions.yaml",
        "berth.dev_promotionapprovals.yaml",
    ]
