"""The names Berth writes into objects' metadata are on the wire: they never change.

A renamed label key would orphan every object labelled with the old one (the inventory
would no longer find them, and nothing would prune or release them); a renamed
finalizer would leave the old one on every Workload, blocking its deletion forever.
"""

from __future__ import annotations

import ast
from pathlib import Path

from berth import names
from berth.api.common import API_VERSION

WIRE = {
    "WORKLOAD_LABEL": "berth.dev/workload",
    "NAME_LABEL": "app.kubernetes.io/name",
    "MANAGED_BY_LABEL": "app.kubernetes.io/managed-by",
    "MANAGED_BY_VALUE": "berth",
    "MANAGED_SELECTOR": "app.kubernetes.io/managed-by=berth",
    "ENVIRONMENT_LABEL": "berth.dev/environment",
    "RESOURCE_LABEL": "berth.dev/resource",
    "RESOURCE_TYPE_LABEL": "berth.dev/resource-type",
    "SHARED_LABEL": "berth.dev/shared",
    "SHARED_VALUE": "true",
    "CHECKSUM_ANNOTATION": "berth.dev/config-checksum",
    "APPLIED_HASH_ANNOTATION": "berth.dev/applied-hash",
    "RETAINED_ANNOTATION": "berth.dev/retained-from",
    "DEFINED_BY_ANNOTATION": "berth.dev/defined-by",
    "DEFINITION_ANNOTATION": "berth.dev/definition",
    "POD_SECURITY_ENFORCE_LABEL": "pod-security.kubernetes.io/enforce",
    "POD_SECURITY_ENFORCE_VERSION_LABEL": "pod-security.kubernetes.io/enforce-version",
    "POD_SECURITY_WARN_LABEL": "pod-security.kubernetes.io/warn",
    "SCORE_KIND_ANNOTATION": "k8s.score.dev/kind",
    "SCORE_SERVICE_NAME_ANNOTATION": "k8s.score.dev/service-name",
    "BACKSTAGE_KUBERNETES_ID": "backstage.io/kubernetes-id",
    "BACKSTAGE_KUBERNETES_NAMESPACE": "backstage.io/kubernetes-namespace",
    "BACKSTAGE_LABEL_SELECTOR": "backstage.io/kubernetes-label-selector",
    "OWNER_ANNOTATION": "berth.dev/owner",
    "OUTPUTS_ANNOTATION": "berth.dev/outputs",
    "LAST_APPLIED_ANNOTATION": "kubectl.kubernetes.io/last-applied-configuration",
    "DEFAULT_IMAGE_DOMAIN": "docker.io",
    "DEFAULT_IMAGE_NAMESPACE": "library",
    "PROMOTION_ANNOTATION": "berth.dev/promotion",
    "PROMOTED_REVISION_ANNOTATION": "berth.dev/promoted-revision",
    "PROMOTION_FIELD_MANAGER": "berth-promotion",
    "REVISION_FIELD_MANAGER": "berth-revisions",
    "ARGOCD_TRACKING_ANNOTATION": "argocd.argoproj.io/tracking-id",
    "ARGOCD_INSTANCE_LABEL": "app.kubernetes.io/instance",
    "FINALIZER": "berth.dev/cleanup",
    "KOPF_FINALIZER": "berth.dev/kopf",
    "FIELD_MANAGER": "berth",
    "COPY_OF_LABEL": "berth.dev/copy-of",
    "PREVIEW_OF_LABEL": "berth.dev/preview-of",
    "CREATED_BY_ANNOTATION": "berth.dev/created-by",
    "PREVIEW_REQUEST_ANNOTATION": "berth.dev/preview-request",
    "KEEP_ANNOTATION": "berth.dev/keep",
    "PREVIEW_FIELD_MANAGER": "berth-preview",
    "PREVIEW_REQUESTER_ROLE": "berth-preview-requester",
    "PREVIEW_EDITOR_ROLE": "berth-preview-editor",
    "PREVIEW_REQUESTERS_BINDING": "berth-preview-requesters",
    "PREVIEW_EDITORS_BINDING": "berth-preview-editors",
    "EVENT_SOURCE_COMPONENT": "berth",
    "EVENT_REPORTING_COMPONENT": "berth.dev/operator",
    "SHARD_LEASE_LABEL": "berth.dev/shard-lease",
    "SHARD_LABEL": "berth.dev/shard",
    "SHARD_COUNT_LABEL": "berth.dev/shards",
    "SHARD_BUCKET_LABEL": "berth.dev/shard-bucket",
}


def defined() -> dict[str, object]:
    return {key: value for key, value in vars(names).items() if key.isupper()}


def test_every_name_keeps_its_wire_value() -> None:
    assert defined() == WIRE


def test_every_name_is_a_plain_string() -> None:
    # Not an enum or other str subclass: these go into manifests dumped as YAML.
    assert all(type(value) is str for value in defined().values())


def test_every_name_is_documented_in_its_module() -> None:
    # Each name has a comment saying what it marks and who reads it (a pair of values
    # may share one, as SHARED_LABEL and SHARED_VALUE do).
    with open(names.__file__, encoding="utf-8") as source:
        lines = source.read().splitlines()
    for index, line in enumerate(lines):
        if line.split(":")[0] in WIRE:
            above = lines[index - 1]
            assert above.startswith("#") or above.split(":")[0] in WIRE, line


def test_no_name_is_written_as_a_string_literal_elsewhere() -> None:
    # The package's only other "berth.dev/" literals are the API version the models
    # and the CRDs carry (berth.api).
    package = Path(names.__file__).parent
    values = set(WIRE.values()) - {"berth", "true"}
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "names.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if text in values or (
                text.startswith(("berth.dev/", "app.kubernetes.io/")) and text != API_VERSION
            ):
                found.append(f"{path.relative_to(package)}:{node.lineno}: {text}")
    assert found == []


def test_the_chart_names_the_preview_roles_and_bindings_as_berth_writes_them() -> None:
    """The operator may bind exactly the ClusterRoles the chart defines, and change exactly
    the RoleBindings it writes: the chart's names are berth.names'."""
    chart = Path(names.__file__).parents[2] / "charts" / "berth" / "templates"
    rules = (chart / "_helpers.tpl").read_text(encoding="utf-8")
    roles = (chart / "rbac.yaml").read_text(encoding="utf-8")
    assert (
        f'resourceNames: ["{names.PREVIEW_EDITOR_ROLE}", "{names.PREVIEW_REQUESTER_ROLE}"]' in rules
    )
    assert (
        f'resourceNames: ["{names.PREVIEW_REQUESTERS_BINDING}", "{names.PREVIEW_EDITORS_BINDING}"]'
        in rules
    )
    for role in (names.PREVIEW_EDITOR_ROLE, names.PREVIEW_REQUESTER_ROLE):
        assert f"  name: {role}\n" in roles
