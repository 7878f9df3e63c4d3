"""The Helm chart in charts/berth: lint, render, and install on a real API server.

The tests that need no cluster (CRD drift, lint, values schema, RBAC shape, the
dashboard) run first; the others use the ``cluster`` fixture and a namespace of
their own, and name every cluster-scoped object after a release name of their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clusterharness import BIN_DIR, REPO_ROOT, ClusterAccess

CHART = REPO_ROOT / "charts" / "berth"
CRD_CHART = REPO_ROOT / "charts" / "berth-crds"
PEERING_CRDS = CHART / "charts" / "kopf-peering" / "crds"
HELM = BIN_DIR / "helm"
RELEASE = "berth-chart-test"
RELEASE_NAMESPACE = "berth-system"

HA = {"replicas": 2, "ha": {"enabled": True}}
SHARDED = {"replicas": 3, "sharding": {"enabled": True, "shards": 6, "leaseDuration": 20}}
# The claim kinds of examples/claim-crds, as a platform would list them in rbac.claims.
EXAMPLE_CLAIMS = {
    "apiGroup": "platform.acme.dev",
    "resources": [
        "postgresqlinstances",
        "mysqlinstances",
        "redisinstances",
        "mongodbinstances",
        "amqpvirtualhosts",
        "objectbuckets",
    ],
}
CLAIMS = {"rbac": {"claims": [EXAMPLE_CLAIMS]}}
FULL = {
    **HA,
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "dashboard": {"enabled": True},
}
NO_CATALOGUE = {"enabled": False, "exclude": []}
# The admission policies are cluster-scoped, one set per cluster, and the test session
# installs them from admission/ (tests/e2e/conftest.py): an install test leaves them out.
NO_ADMISSION = {"enabled": False}
ADMISSION = REPO_ROOT / "admission" / "policies.yaml"
CATALOGUE = CHART / "catalogue"


# -- helpers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's cache, config and data go to a directory of this run, not to $HOME."""
    home = tmp_path_factory.mktemp("helm")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = str(home / name.lower())
    return env


def helm(
    env: Mapping[str, str], *args: str, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make tools` first", pytrace=False)
    proc = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, env=dict(env), timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


def values_file(tmp_path: Path, values: Mapping[str, Any] | None) -> list[str]:
    if not values:
        return []
    path = tmp_path / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(dict(values)))
    return ["-f", str(path)]


def template(
    env: Mapping[str, str],
    tmp_path: Path,
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str = RELEASE_NAMESPACE,
    release: str = RELEASE,
) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace]
    return helm(env, *args, *values_file(tmp_path, values)).stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(
    env: Mapping[str, str], tmp_path: Path, values: Mapping[str, Any] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return documents(template(env, tmp_path, values, **kw))


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def rules_of(docs: list[dict[str, Any]]) -> dict[str, set[tuple[str, str, str]]]:
    """(apiGroup, resource, verb) triples granted by each Role/ClusterRole, by name."""
    granted: dict[str, set[tuple[str, str, str]]] = {}
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        triples = granted.setdefault(f"{doc['kind']}/{doc['metadata']['name']}", set())
        for rule in doc.get("rules") or []:
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    for verb in rule.get("verbs") or []:
                        triples.add((group, resource, verb))
    return granted


def grant(group: str, resources: str, verbs: str) -> set[tuple[str, str, str]]:
    return {(group, r, v) for r in resources.split() for v in verbs.split()}


# What the operator needs, by concern (see the handlers and kopf's own needs).
CLUSTER_RULES = (
    # kopf's index and watch, and the finalizer by server-side apply: never "update".
    grant("berth.dev", "environments", "get list watch patch")
    # kopf indexes the ClusterProvisioners: read only.
    | grant("berth.dev", "clusterprovisioners", "get list watch")
    | grant("berth.dev", "environments/status", "patch")
    | grant("", "namespaces", "get create patch")
    | grant("apiextensions.k8s.io", "customresourcedefinitions", "get list watch")
    # A repeated Event counts up: a merge patch of the one posted.
    | grant("", "events", "create patch")
    # Berth's admission policies bound per Environment: read and created, nothing more.
    | grant("admissionregistration.k8s.io", "validatingadmissionpolicybindings", "get create")
)
WORKLOAD_RULES = (
    # kopf's index and watch, the finalizer by server-side apply (never "update"), and
    # deletion when their Environment goes under deletionPolicy Delete.
    grant("berth.dev", "workloads", "get list watch patch delete")
    | grant("berth.dev", "workloads/status", "patch")
    # Only for the OwnerReferencesPermissionEnforcement check of blockOwnerDeletion.
    | grant("berth.dev", "workloads/finalizers", "update")
    | grant("apps", "deployments", "get list watch create patch delete")
    | grant("", "services configmaps", "get list watch create patch delete")
    # Keys of a connection Secret, read by name: nothing more.
    | grant("", "secrets", "get")
    # A Workload's Pods, watched (label-filtered) for their failures: nothing more.
    | grant("", "pods", "list watch")
    # The default rbac.templateResources: volumes and routes of template provisioners.
    # (listed by Berth's labels: the sweep of what a crash left behind)
    | grant("", "persistentvolumeclaims", "get list create patch delete")
    | grant("networking.k8s.io", "ingresses", "get list create patch delete")
    # Promotion: a Promotion's target Workload written (created, or replaced on the
    # resourceVersion its checks saw); revisions recorded, listed and collected; the
    # Promotions and approvals indexed, a Promotion's status; the ServiceAccount read by
    # name for its pull Secrets.
    | grant("berth.dev", "workloads", "create update")
    | grant("berth.dev", "workloadrevisions", "get list create delete")
    | grant("berth.dev", "promotions promotionapprovals", "get list watch")
    | grant("berth.dev", "promotions/status", "patch")
    | grant("", "serviceaccounts", "get")
    # Previews indexed, their finalizer and status, an expired one deleted (under
    # operator.namespaces only to say on their status that a cluster-wide Berth makes them).
    | grant("berth.dev", "previews", "get list watch patch delete")
    | grant("berth.dev", "previews/status", "patch")
)
# The ClusterRoles for people (bound by the platform team, never by the chart).
PEOPLE_ROLES = {
    f"ClusterRole/{RELEASE}-promoter": grant("berth.dev", "promotions", "create get list watch")
    | grant("berth.dev", "workloadrevisions workloads", "get list watch"),
    f"ClusterRole/{RELEASE}-promotion-approver": grant(
        "berth.dev", "promotionapprovals", "create get list watch"
    )
    | grant("berth.dev", "promotions workloadrevisions workloads", "get list watch"),
    f"ClusterRole/{RELEASE}-environment-viewer": grant(
        "berth.dev", "environments clusterprovisioners", "get list watch"
    ),
}
# Claims are watched (by Berth's label): their changes wake their Workloads.
CLAIM_RULES = grant(
    "platform.acme.dev",
    " ".join(EXAMPLE_CLAIMS["resources"]),
    "get list watch create patch delete",
)
# Previews (cluster-wide only): Previews, their Environments, copies of Workloads, the
# namespace a teardown deletes last, and the RoleBindings of a base's creators (by name;
# "bind" on the two preview ClusterRoles by name: rules_of does not show names).
PREVIEW_RULES = (
    grant("berth.dev", "environments", "create delete")
    | grant("berth.dev", "workloads", "create")
    | grant("", "namespaces", "delete")
    | grant("rbac.authorization.k8s.io", "rolebindings", "create get patch delete")
    | grant("rbac.authorization.k8s.io", "clusterroles", "bind")
)
# What a base's creators get: Previews in its namespace; Workloads, and reading why one
# is not Ready, in each preview's.
PREVIEW_ROLES = {
    "ClusterRole/berth-preview-requester": grant(
        "berth.dev", "previews", "get list watch create patch delete"
    ),
    "ClusterRole/berth-preview-editor": grant(
        "berth.dev", "workloads", "get list watch create patch delete"
    )
    | grant("", "pods pods/log events services configmaps", "get list watch")
    | grant("apps", "deployments", "get list watch"),
}
KOPF_NAMESPACES = grant("", "namespaces", "list watch")
CLUSTER_PEERING = grant("kopf.dev", "clusterkopfpeerings", "get list watch patch")
NAMESPACED_PEERING = grant("kopf.dev", "kopfpeerings", "get list watch patch")
SHARD_LEASES = grant("coordination.k8s.io", "leases", "get list create update delete")


# -- no cluster needed --------------------------------------------------------------------


@pytest.mark.parametrize("copy", [CHART / "crds", CRD_CHART / "files"], ids=["berth", "berth-crds"])
def test_chart_crds_are_the_generated_crds(copy: Path) -> None:
    """crds/ is the one source; each chart carries a copy, byte for byte."""
    where = copy.relative_to(REPO_ROOT)
    generated = {p.name: p.read_bytes() for p in sorted((REPO_ROOT / "crds").glob("*.yaml"))}
    shipped = {p.name: p.read_bytes() for p in sorted(copy.glob("*.yaml"))}
    assert generated, "crds/ is empty: run `make crds`"
    assert sorted(shipped) == sorted(generated), (
        f"{where} holds {sorted(shipped)}, crds/ holds {sorted(generated)}: run `make chart-crds`"
    )
    for name, data in generated.items():
        assert shipped[name] == data, (
            f"{where}/{name} differs from crds/{name}: run `make chart-crds`"
        )


LINT_VALUES = {
    "default": None,
    "ha": HA,
    "full": FULL,
    "namespaced-ha": {**HA, "operator": {"namespaces": ["team-a", "team-b"]}},
    "claims": CLAIMS,
}


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
@pytest.mark.parametrize("case", sorted(LINT_VALUES))
def test_helm_lint_is_clean(
    helm_env: dict[str, str], tmp_path: Path, case: str, strict: bool
) -> None:
    args = ["lint", str(CHART), "--with-subcharts", *values_file(tmp_path, LINT_VALUES[case])]
    if strict:
        args.append("--strict")
    out = helm(helm_env, *args).stdout
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out, out
    assert "[ERROR]" not in out, out


def _leaves(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node = schema
    for part in path.split("."):
        props = node.get("properties")
        if props is None:
            # A map of free keys (labels, resource lists): described as a whole.
            return node if "additionalProperties" in node or node.get("type") == "object" else None
        if part not in props:
            return None
        node = props[part]
    return node


def test_every_value_is_in_the_schema_and_the_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    readme = (CHART / "README.md").read_text()
    table = readme.split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))
    assert documented, "the chart README has no values table"
    for leaf in _leaves(values):
        assert _schema_at(schema, leaf) is not None, f"{leaf} is not in values.schema.json"
        parts = leaf.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        assert prefixes & documented, f"{leaf} is not in the values table of the chart README"
    for key in documented:
        assert _schema_at(schema, key) is not None, f"the README documents {key}, the schema not"


BAD_VALUES = [
    ({"operator": {"logFormat": "xml"}}, "logFormat"),
    ({"operator": {"logLevel": "TRACE"}}, "logLevel"),
    ({"operator": {"workers": 0}}, "workers"),
    ({"operator": {"burst": 0}}, "burst"),
    ({"operator": {"qps": -1}}, "qps"),
    ({"operator": {"resync": 0}}, "resync"),
    ({"operator": {"metricsPort": 70000}}, "metricsPort"),
    ({"operator": {"namespaces": ["Team_A"]}}, "namespaces"),
    ({"replicas": 0}, "replicas"),
    ({"ha": {"enabled": "yes"}}, "enabled"),
    ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ({"serviceMonitor": {"interval": "soon"}}, "interval"),
    ({"prometheusRule": {"alerts": {"workloadsStalled": {"for": "soon"}}}}, "for"),
    ({"prometheusRule": {"alerts": {"reconcileErrors": {"ratio": 2}}}}, "ratio"),
    ({"prometheusRule": {"alerts": {"workQueueGrowing": {"depth": -1}}}}, "depth"),
    ({"prometheusRule": {"alerts": {"stalled": {"for": "1m"}}}}, "stalled"),  # a typo
    ({"prometheusRule": {"runbookBaseURL": "docs/alerts"}}, "runbookBaseURL"),
    ({"workers": 4}, "workers"),  # a typo: not under operator
    ({"replicas": 2}, "ha.enabled"),
    ({"replicas": 2, "ha": {"enabled": True}, "sharding": {"enabled": True}}, "exclude each"),
    ({"sharding": {"enabled": True, "shards": 1}}, "shards"),
    ({"sharding": {"enabled": True, "leaseDuration": 1}}, "leaseDuration"),
    ({"operator": {"healthPort": 8080}}, "must differ"),
    ({"rbac": {"claims": [{"apiGroup": "platform.acme.dev", "resources": ["*"]}]}}, "claims"),
    ({"rbac": {"claims": [{"apiGroup": "*", "resources": ["x"]}]}}, "apiGroup"),
    ({"rbac": {"claims": [{"apiGroup": "", "resources": ["secrets"]}]}}, "apiGroup"),
    ({"rbac": {"claims": [{"apiGroup": "a.dev", "resources": ["x/status"]}]}}, "resources"),
    ({"rbac": {"claims": [{"apiGroup": "a.dev", "resources": []}]}}, "resources"),
    ({"rbac": {"claims": [{"apiGroup": "a.dev", "kinds": ["x"]}]}}, "kinds"),
    (
        {"rbac": {"templateResources": [{"apiGroup": "", "resources": ["pods", "secrets"]}]}},
        "must not list secrets",
    ),
    ({"backstage": {"catalog": {"enabled": True, "port": 8081}}}, "backstage.catalog.port must"),
    ({"backstage": {"catalog": {"port": 0}}}, "port"),
    ({"backstage": {"enabled": True}}, "enabled"),  # a typo: not under catalog
]


@pytest.mark.parametrize(
    ("values", "message"), BAD_VALUES, ids=[f"{i}-{m}" for i, (_, m) in enumerate(BAD_VALUES)]
)
def test_bad_values_are_refused(
    helm_env: dict[str, str], tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    args = ["template", RELEASE, str(CHART), *values_file(tmp_path, values)]
    proc = helm(helm_env, *args, check=False)
    assert proc.returncode != 0, f"{values} was accepted"
    assert message in proc.stderr, proc.stderr


RBAC_CASES: dict[str, tuple[dict[str, Any] | None, dict[str, set[tuple[str, str, str]]]]] = {
    "default": (
        None,
        {f"ClusterRole/{RELEASE}": CLUSTER_RULES | WORKLOAD_RULES | PREVIEW_RULES, **PREVIEW_ROLES},
    ),
    "ha": (
        HA,
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES
            | WORKLOAD_RULES
            | CLUSTER_PEERING
            | PREVIEW_RULES,
            **PREVIEW_ROLES,
        },
    ),
    "sharding": (
        SHARDED,
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES | WORKLOAD_RULES | PREVIEW_RULES,
            f"Role/{RELEASE}-sharding": SHARD_LEASES,
            **PREVIEW_ROLES,
        },
    ),
    "namespaced": (
        {"operator": {"namespaces": ["team-a"]}},
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES | KOPF_NAMESPACES,
            f"ClusterRole/{RELEASE}-namespaced": WORKLOAD_RULES,
        },
    ),
    "namespaced-ha": (
        {**HA, "operator": {"namespaces": ["team-a", "team-b"]}},
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES | KOPF_NAMESPACES,
            f"ClusterRole/{RELEASE}-namespaced": WORKLOAD_RULES | NAMESPACED_PEERING,
        },
    ),
    "claims": (
        CLAIMS,
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES | WORKLOAD_RULES | CLAIM_RULES | PREVIEW_RULES,
            **PREVIEW_ROLES,
        },
    ),
    "namespaced-claims": (
        {**CLAIMS, "operator": {"namespaces": ["team-a"]}},
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES | KOPF_NAMESPACES,
            f"ClusterRole/{RELEASE}-namespaced": WORKLOAD_RULES | CLAIM_RULES,
        },
    ),
    "no-template-resources": (
        {"rbac": {"templateResources": []}},
        {
            f"ClusterRole/{RELEASE}": CLUSTER_RULES
            | PREVIEW_RULES
            | WORKLOAD_RULES
            - grant("", "persistentvolumeclaims", "get list create patch delete")
            - grant("networking.k8s.io", "ingresses", "get list create patch delete"),
            **PREVIEW_ROLES,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(RBAC_CASES))
def test_rbac_grants_exactly_what_the_operator_needs(
    helm_env: dict[str, str], tmp_path: Path, case: str
) -> None:
    values, expected = RBAC_CASES[case]
    docs = render(helm_env, tmp_path, values)
    for doc in docs:
        for rule in doc.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(field) or []), (
                    f"{doc['kind']}/{doc['metadata']['name']} has a wildcard in {field}: {rule}"
                )
            assert not rule.get("nonResourceURLs"), rule
    granted = {k: v for k, v in rules_of(docs).items() if k not in PEOPLE_ROLES}
    assert granted == expected
    for role, triples in granted.items():
        # Secrets: get by name, and nothing else — never list or watch, never a write.
        on_secrets = {t for t in triples if t[1] == "secrets"}
        assert on_secrets <= {("", "secrets", "get")}, f"{role} grants {sorted(on_secrets)}"
        # Environments: never "update" (Argo CD owns spec and metadata), by the operator
        # or by whoever makes previews. Workloads only as a Promotion's target, which is
        # never one synced from git.
        for group, resource, verb in triples:
            if group == "berth.dev" and resource == "environments":
                assert verb != "update", f"{role} grants update on {resource}"
    # Secrets are read where Workloads live: bound per namespace in namespaced mode.
    if values and (values.get("operator") or {}).get("namespaces"):
        assert ("", "secrets", "get") not in granted[f"ClusterRole/{RELEASE}"]


def test_the_roles_for_people_grant_exactly_promoting_approving_and_reading(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    docs = render(helm_env, tmp_path)
    granted = rules_of(docs)
    assert {k: v for k, v in granted.items() if k in PEOPLE_ROLES} == PEOPLE_ROLES
    bindings = ("RoleBinding", "ClusterRoleBinding")
    bound = {d["roleRef"]["name"] for d in docs if d["kind"] in bindings}
    assert not bound & {k.split("/", 1)[1] for k in PEOPLE_ROLES}
    approver = f"{RELEASE}-promotion-approver"
    policy = only(docs, "ValidatingAdmissionPolicy", approver)
    (rule,) = policy["spec"]["validations"]
    assert rule["expression"] == "object.spec.approver == request.userInfo.username"
    only(docs, "ValidatingAdmissionPolicyBinding", approver)
    off = render(helm_env, tmp_path, {"promotion": {"approverPolicy": False}})
    assert not [
        d
        for d in off
        if d["kind"].startswith("ValidatingAdmissionPolicy") and d["metadata"]["name"] == approver
    ]


def test_every_rbac_rule_says_why() -> None:
    """Each rule in the RBAC templates follows a comment saying why it is there."""
    templates = CHART / "templates"
    for path in (templates / "rbac.yaml", templates / "_helpers.tpl", templates / "promotion.yaml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.lstrip().startswith("- apiGroups:"):
                continue
            above = i - 1
            # Rules rendered from a list of values share the comment before the loop;
            # two rules of one concern (children) may share one comment too.
            while above >= 0 and (
                lines[above].lstrip().startswith(("{{", "resources:", "verbs:", "- apiGroups:"))
            ):
                above -= 1
            assert lines[above].lstrip().startswith("#"), f"{path.name}:{i + 1}: no comment"


def test_namespaced_mode_binds_the_workload_rules_per_namespace(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    docs = render(helm_env, tmp_path, {"operator": {"namespaces": ["team-a", "team-b"]}})
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == f"{RELEASE}-namespaced"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": RELEASE, "namespace": RELEASE_NAMESPACE}
        ]
    crb = only(docs, "ClusterRoleBinding")
    assert crb["roleRef"]["name"] == RELEASE


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    container: dict[str, Any] = pod["containers"][0]
    return container


def test_deployment_runs_berth_with_the_flags_from_values(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    docs = render(
        helm_env,
        tmp_path,
        {
            "image": {"repository": "registry.acme.dev/berth", "tag": "9.9.9"},
            "operator": {
                "workers": 8,
                "qps": 12.5,
                "burst": 30,
                "resync": 60,
                "logFormat": "text",
                "logLevel": "DEBUG",
                "metricsPort": 9090,
                "healthPort": 9091,
                "namespaces": ["team-a", "team-b"],
            },
        },
    )
    container = _container(docs)
    assert container["image"] == "registry.acme.dev/berth:9.9.9"
    assert container["command"] == ["berth"]
    assert container["args"] == [
        "run",
        "--workers=8",
        "--qps=12.5",
        "--burst=30",
        "--resync=60",
        "--log-format=text",
        "--log-level=DEBUG",
        "--metrics-port=9090",
        "--health-port=9091",
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "metrics": 9090,
        "health": 9091,
    }
    service = only(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]


BACKSTAGE = {"backstage": {"catalog": {"enabled": True, "port": 9092}}}


def test_the_backstage_catalog_is_opt_in_and_has_a_service_of_its_own(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    default = render(helm_env, tmp_path)
    assert not [a for a in _container(default)["args"] if a.startswith("--backstage-port")]
    assert [s["metadata"]["name"] for s in default if s["kind"] == "Service"] == [
        f"{RELEASE}-metrics"
    ]
    docs = render(helm_env, tmp_path, BACKSTAGE)
    container = _container(docs)
    assert "--backstage-port=9092" in container["args"]
    assert {"name": "backstage", "containerPort": 9092, "protocol": "TCP"} in container["ports"]
    service = only(docs, "Service", f"{RELEASE}-backstage")
    assert service["spec"]["ports"] == [
        {"name": "backstage", "port": 9092, "targetPort": "backstage", "protocol": "TCP"}
    ]
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Not scraped as metrics: the ServiceMonitor selects the metrics Service only.
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "backstage-catalog"


def test_the_cli_accepts_the_rendered_arguments(helm_env: dict[str, str], tmp_path: Path) -> None:
    from berth.cli import build_parser

    for values in (None, FULL, {"operator": {"namespaces": ["a"], "qps": 0.5}}):
        args = _container(render(helm_env, tmp_path, values))["args"]
        parsed = build_parser().parse_args(args)
        assert parsed.command == "run"


def test_default_image_tag_is_the_app_version(helm_env: dict[str, str], tmp_path: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == "0.1.0"
    assert _container(render(helm_env, tmp_path))["image"] == "berth:0.1.0"


def test_the_operator_pod_is_restricted_and_probed(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    docs = render(helm_env, tmp_path)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(docs)
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert only(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def _fake_berth(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "berth"
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    fake.chmod(0o755)
    return bin_dir


def test_ha_replicas_get_distinct_stable_priorities(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    """Run the rendered command with a stand-in `berth` that prints its arguments."""
    docs = render(helm_env, tmp_path, HA)
    container = _container(docs)
    assert "--peering=berth" in container["args"]
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"]
    )
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    env = {"PATH": f"{_fake_berth(tmp_path)}:/usr/bin:/bin"}

    def argv(pod: str) -> list[str]:
        cmd = [*container["command"], *container["args"]]
        out = subprocess.run(
            cmd, env={**env, "POD_ID": pod}, capture_output=True, text=True, check=True
        ).stdout
        return out.splitlines()

    pods = [f"berth-chart-test-7d9f8c6b5-{suffix}" for suffix in ("x2k4q", "p9zlm", "a1b2c")]
    priorities = []
    for pod in pods:
        args = argv(pod)
        assert args[: len(container["args"])] == container["args"]
        (priority,) = [a.split("=", 1)[1] for a in args if a.startswith("--priority=")]
        assert priority.isdigit(), args
        priorities.append(int(priority))
        assert argv(pod) == args, "the priority of a Pod must not change across restarts"
    assert len(set(priorities)) == len(pods), priorities


def test_sharding_runs_every_replica_with_the_shard_flags(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    docs = render(helm_env, tmp_path, SHARDED)
    container = _container(docs)
    assert container["command"] == ["berth"]  # no priority: every replica works
    assert container["args"][-2:] == ["--shards=6", "--shard-lease-duration=20"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in container["env"]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    role = only(docs, "Role", f"{RELEASE}-sharding")
    binding = only(docs, "RoleBinding", f"{RELEASE}-sharding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{RELEASE}-sharding",
    }
    from berth.cli import build_parser

    parsed = build_parser().parse_args(container["args"])
    assert (parsed.shards, parsed.shard_lease_duration) == (6, 20)
    assert not [d for d in render(helm_env, tmp_path) if d["kind"] == "Role"]


def test_ha_creates_the_peering_object(helm_env: dict[str, str], tmp_path: Path) -> None:
    docs = render(helm_env, tmp_path, {**HA, "ha": {"enabled": True, "peeringName": "p1"}})
    peering = only(docs, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert peering["metadata"]["name"] == "p1"
    assert "--peering=p1" in _container(docs)["args"]
    assert not [d for d in render(helm_env, tmp_path) if d["apiVersion"].startswith("kopf.dev")]
    namespaced = render(helm_env, tmp_path, {**HA, "operator": {"namespaces": ["a", "b"]}})
    assert sorted(d["metadata"]["namespace"] for d in namespaced if d["kind"] == "KopfPeering") == [
        "a",
        "b",
    ]


def test_peering_crds_are_kopfs_shape() -> None:
    crds = {p.name: yaml.safe_load(p.read_text()) for p in PEERING_CRDS.glob("*.yaml")}
    scopes = {c["spec"]["names"]["kind"]: c["spec"]["scope"] for c in crds.values()}
    assert scopes == {"ClusterKopfPeering": "Cluster", "KopfPeering": "Namespaced"}
    for crd in crds.values():
        assert crd["spec"]["group"] == "kopf.dev"
        (version,) = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        # kopf merge-patches .status on the object itself: no status subresource.
        assert "subresources" not in version
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert {"name": "kopf-peering", "version": "0.1.0", "condition": "ha.enabled"} in chart[
        "dependencies"
    ]


def _metric_samples() -> set[str]:
    """Every sample name berth.metrics exposes (counters _total, histograms _bucket...)."""
    from prometheus_client.metrics import MetricWrapperBase

    from berth import metrics

    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
            else:
                names.add(family.name)
    return names


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_dashboard_queries_berths_metrics() -> None:
    dashboard = json.loads((CHART / "dashboards" / "berth.json").read_text())
    exprs = _exprs(dashboard)
    used = {name for expr in exprs for name in re.findall(r"\bberth_[a-z_]+", expr)}
    assert used, "the dashboard queries no berth metric"
    assert used <= _metric_samples(), f"unknown metrics: {used - _metric_samples()}"
    joined = "\n".join(exprs)
    assert "by (kind, result) (rate(berth_reconciles_total" in joined
    for quantile in ("0.50", "0.95"):
        assert f"histogram_quantile({quantile}, sum by (le, kind) (rate(" in joined
    assert "sum by (kind) (rate(berth_api_writes_total" in joined
    assert "berth_drift_corrections_total" in joined
    assert "sum by (ready) (berth_workloads" in joined
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "namespace"}


def test_dashboard_configmap_and_service_monitor(helm_env: dict[str, str], tmp_path: Path) -> None:
    default = render(helm_env, tmp_path)
    assert not [d for d in default if d["kind"] in ("ServiceMonitor", "ConfigMap")]
    docs = render(helm_env, tmp_path, FULL)
    configmap = only(docs, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"]["berth.json"] == (CHART / "dashboards" / "berth.json").read_text()
    monitor = only(docs, "ServiceMonitor")
    service = only(docs, "Service")
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][key] == value
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}


# -- against the real API server ----------------------------------------------------------


def restricted(cluster: ClusterAccess, namespace: str) -> None:
    """Make the namespace enforce (and warn about) Pod Security "restricted"."""
    cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
        "--overwrite",
    )


def served(cluster: ClusterAccess, api_version: str, kind: str) -> bool:
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    out = cluster.kubectl("get", "--raw", path, check=False)
    try:
        doc = json.loads(out)
    except ValueError:
        return False
    return any(r.get("kind") == kind for r in doc.get("resources", []))


def dry_run(cluster: ClusterAccess, tmp_path: Path, docs: list[dict[str, Any]]) -> str:
    path = tmp_path / f"dry-run-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return cluster.kubectl("apply", "--dry-run=server", "--warnings-as-errors", "-f", str(path))


@pytest.fixture(scope="module")
def berth_crds(cluster: ClusterAccess) -> None:
    """Berth's CRDs (helm installs them from the chart's crds/ before anything else)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/clusterprovisioners.berth.dev", check=True
    )


def test_the_catalogue_is_rendered_as_shipped_and_can_be_trimmed(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    shipped = {
        doc["metadata"]["name"]: doc
        for path in sorted(CATALOGUE.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    docs = render(helm_env, tmp_path)
    rendered = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterProvisioner"}
    assert rendered == shipped  # byte for byte as data: Helm left the Jinja2 alone
    trimmed = render(helm_env, tmp_path, {"catalogue": {"enabled": True, "exclude": ["mssql"]}})
    names = {d["metadata"]["name"] for d in trimmed if d["kind"] == "ClusterProvisioner"}
    assert names == set(shipped) - {"default-mssql"}
    off = render(helm_env, tmp_path, {"catalogue": NO_CATALOGUE})
    assert not [d for d in off if d["kind"] == "ClusterProvisioner"]


def test_the_admission_policies_are_rendered_as_generated(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    generated = [d for d in yaml.safe_load_all(ADMISSION.read_text()) if d]
    kinds = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    # The Workload policies of admission/ (the chart's others, previews' and promotion's,
    # are its templates', named after the release).
    names = {d["metadata"]["name"] for d in generated}
    rendered = [
        d
        for d in render(helm_env, tmp_path)
        if d["kind"] in kinds and d["metadata"]["name"] in names
    ]

    def key(doc: dict[str, Any]) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    # As data, in Helm's install order: Helm left the CEL alone.
    assert sorted(rendered, key=key) == sorted(generated, key=key)
    off = render(helm_env, tmp_path, {"admissionPolicies": NO_ADMISSION})
    assert not [d for d in off if d["kind"] in kinds and d["metadata"]["name"] in names]
    # Without them, the operator binds nothing and gets no right to.
    granted = set().union(*rules_of(off).values())
    assert not [t for t in granted if t[0] == "admissionregistration.k8s.io"]


def test_default_render_is_accepted_by_the_api_server(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    berth_crds: None,
) -> None:
    restricted(cluster, namespace)
    release = f"{RELEASE}-{uuid.uuid4().hex[:5]}"
    docs = render(helm_env, tmp_path, namespace=namespace, release=release)
    out = dry_run(cluster, tmp_path, docs)
    assert out.count("(server dry run)") == len(docs), out


def test_backstage_render_is_accepted_by_the_api_server(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    berth_crds: None,
) -> None:
    restricted(cluster, namespace)
    release = f"{RELEASE}-{uuid.uuid4().hex[:5]}"
    docs = render(helm_env, tmp_path, BACKSTAGE, namespace=namespace, release=release)
    only(docs, "Service", f"{release}-backstage")
    out = dry_run(cluster, tmp_path, docs)
    assert out.count("(server dry run)") == len(docs), out


def test_sharded_render_is_accepted_by_the_api_server(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    berth_crds: None,
) -> None:
    restricted(cluster, namespace)
    release = f"{RELEASE}-{uuid.uuid4().hex[:5]}"
    docs = render(helm_env, tmp_path, SHARDED, namespace=namespace, release=release)
    assert only(docs, "Role")["metadata"]["namespace"] == namespace
    out = dry_run(cluster, tmp_path, docs)
    assert out.count("(server dry run)") == len(docs), out


def test_ha_servicemonitor_dashboard_render_is_accepted_by_the_api_server(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    berth_crds: None,
) -> None:
    restricted(cluster, namespace)
    release = f"{RELEASE}-{uuid.uuid4().hex[:5]}"
    values = {**FULL, "ha": {"enabled": True, "peeringName": release}}
    docs = render(helm_env, tmp_path, values, namespace=namespace, release=release)
    assert only(docs, "ServiceMonitor")["apiVersion"] == "monitoring.coreos.com/v1"
    only(docs, "ClusterKopfPeering")
    # Kinds whose CRDs the cluster lacks (the Prometheus Operator's; kopf's, which the
    # chart's subchart installs before the rest) cannot be dry-run: the rest must pass.
    unserved = [d for d in docs if not served(cluster, d["apiVersion"], d["kind"])]
    assert {d["kind"] for d in unserved} <= {
        "ServiceMonitor",
        "PrometheusRule",
        "ClusterKopfPeering",
    }
    rest = [d for d in docs if d not in unserved]
    out = dry_run(cluster, tmp_path, rest)
    assert out.count("(server dry run)") == len(rest), out
    peering_crds = [yaml.safe_load(p.read_text()) for p in sorted(PEERING_CRDS.glob("*.yaml"))]
    assert "(server dry run)" in dry_run(cluster, tmp_path, peering_crds)


def test_namespaced_render_is_accepted_by_the_api_server(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    berth_crds: None,
) -> None:
    restricted(cluster, namespace)
    release = f"{RELEASE}-{uuid.uuid4().hex[:5]}"
    values = {"operator": {"namespaces": [namespace]}}
    docs = render(helm_env, tmp_path, values, namespace=namespace, release=release)
    assert only(docs, "RoleBinding")["metadata"]["namespace"] == namespace
    out = dry_run(cluster, tmp_path, docs)
    assert out.count("(server dry run)") == len(docs), out


def get_json(cluster: ClusterAccess, *args: str) -> dict[str, Any] | None:
    out = cluster.kubectl("get", *args, "-o", "json", "--ignore-not-found", check=True)
    return json.loads(out) if out.strip() else None


def can_i(cluster: ClusterAccess, sa: str, verb: str, resource: str, namespace: str) -> bool:
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, "--as", sa, "--namespace", namespace]
    if subresource:
        args.append(f"--subresource={subresource}")
    out = cluster.kubectl(*args, check=False)
    return out.strip().splitlines()[0] == "yes"


# (verb, resource) the operator's ServiceAccount must be allowed, then refused.
ALLOWED = [
    ("watch", "workloads.berth.dev"),
    # A Promotion's target Workload; revisions; Promotions and their approvals.
    ("create", "workloads.berth.dev"),
    ("update", "workloads.berth.dev"),
    ("create", "workloadrevisions.berth.dev"),
    ("watch", "promotions.berth.dev"),
    ("patch", "promotions.berth.dev/status"),
    ("watch", "promotionapprovals.berth.dev"),
    ("patch", "workloads.berth.dev"),
    ("patch", "workloads.berth.dev/status"),
    ("update", "workloads.berth.dev/finalizers"),
    ("delete", "workloads.berth.dev"),
    ("patch", "environments.berth.dev"),
    ("list", "environments.berth.dev"),
    ("patch", "environments.berth.dev/status"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "services"),
    ("watch", "configmaps"),
    ("create", "namespaces"),
    ("patch", "namespaces"),
    ("create", "events"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("get", "secrets"),
    ("create", "persistentvolumeclaims"),
    ("delete", "ingresses.networking.k8s.io"),
    # previews: their Environments, copies, the namespace a teardown deletes last (the
    # chart's admission policy narrows which), the creators' RoleBindings
    ("delete", "environments.berth.dev"),
    ("create", "workloads.berth.dev"),
    ("delete", "namespaces"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
]
REFUSED = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("update", "secrets"),
    ("delete", "secrets"),
    ("update", "environments.berth.dev"),
    ("update", "workloadrevisions.berth.dev"),
    ("create", "promotionapprovals.berth.dev"),
    ("update", "promotions.berth.dev"),
    ("create", "postgresqlinstances.platform.acme.dev"),  # rbac.claims is empty by default
    ("update", "namespaces"),
    ("create", "pods"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("update", "deployments.apps"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
]


@pytest.fixture
def release_name() -> str:
    return f"{RELEASE}-{uuid.uuid4().hex[:5]}"


def test_install_creates_every_object_and_uninstall_removes_them(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    release_name: str,
) -> None:
    restricted(cluster, namespace)
    kube = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]
    # The catalogue (cluster-scoped, one per cluster) is proven by its own test below.
    values = values_file(
        tmp_path,
        {
            "dashboard": {"enabled": True},
            "catalogue": NO_CATALOGUE,
            "admissionPolicies": NO_ADMISSION,
        },
    )
    install = ["install", release_name, str(CHART), *kube, *values, "--skip-crds"]
    helm(helm_env, *install, "--wait", "--timeout", "180s")
    try:
        deployment = get_json(cluster, "-n", namespace, "deployment", release_name)
        assert deployment is not None
        assert deployment["status"].get("availableReplicas") == 1
        for kind, name in [
            ("serviceaccount", release_name),
            ("service", f"{release_name}-metrics"),
            ("configmap", f"{release_name}-dashboard"),
        ]:
            assert get_json(cluster, "-n", namespace, kind, name), f"{kind}/{name} is missing"
        for kind in ("clusterrole", "clusterrolebinding"):
            assert get_json(cluster, kind, release_name), f"{kind}/{release_name} is missing"

        pods = get_json(
            cluster, "-n", namespace, "pods", "-l", f"app.kubernetes.io/instance={release_name}"
        )
        assert pods is not None
        # Admitted under "restricted", scheduled on a kwok node, Running.
        assert [p["status"]["phase"] for p in pods["items"]] == ["Running"]
        assert pods["items"][0]["spec"]["containers"][0]["args"][0] == "run"

        sa = f"system:serviceaccount:{namespace}:{release_name}"
        for verb, resource in ALLOWED:
            assert can_i(cluster, sa, verb, resource, namespace), f"cannot {verb} {resource}"
        for verb, resource in REFUSED:
            assert not can_i(cluster, sa, verb, resource, namespace), f"may {verb} {resource}"
    finally:
        helm(helm_env, "uninstall", release_name, *kube, "--wait", "--timeout", "120s")

    for kind in ("clusterrole", "clusterrolebinding"):
        assert get_json(cluster, kind, release_name) is None, f"{kind} left behind"
    for kind in ("deployment", "serviceaccount", "configmap"):
        found = get_json(
            cluster, "-n", namespace, kind, "-l", f"app.kubernetes.io/instance={release_name}"
        )
        # kubectl prints nothing for an empty list with --ignore-not-found.
        assert found is None or found["items"] == [], f"{kind} left behind"


def crd_exists(cluster: ClusterAccess, name: str) -> bool:
    return get_json(cluster, "crd", name) is not None


def test_ha_install_brings_the_peering_and_uninstall_removes_it(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    release_name: str,
) -> None:
    """Helm installs kopf's CRDs (the subchart's crds/) before it maps the peering object."""
    peering_crds = ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]
    existed = {name: crd_exists(cluster, name) for name in peering_crds}
    restricted(cluster, namespace)
    kube = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]
    values = values_file(
        tmp_path,
        {
            **HA,
            "ha": {"enabled": True, "peeringName": release_name},
            "catalogue": NO_CATALOGUE,
            "admissionPolicies": NO_ADMISSION,
        },
    )
    # Without --skip-crds, so that Helm installs the subchart's CRDs first; from a copy
    # of the chart without Berth's own CRDs, which other tests own on this cluster.
    chart = tmp_path / "berth"
    shutil.copytree(CHART, chart)
    for crd in (chart / "crds").glob("*.yaml"):
        crd.unlink()
    install = ["install", release_name, str(chart), *kube, *values]
    try:
        helm(helm_env, *install, "--wait", "--timeout", "180s")
        try:
            peering = get_json(cluster, "clusterkopfpeering", release_name)
            assert peering is not None
            assert peering["metadata"]["labels"]["app.kubernetes.io/instance"] == release_name
            pods = get_json(
                cluster, "-n", namespace, "pods", "-l", f"app.kubernetes.io/instance={release_name}"
            )
            assert pods is not None
            assert [p["status"]["phase"] for p in pods["items"]] == ["Running", "Running"]
            sa = f"system:serviceaccount:{namespace}:{release_name}"
            assert can_i(cluster, sa, "patch", "clusterkopfpeerings.kopf.dev", namespace)
        finally:
            helm(helm_env, "uninstall", release_name, *kube, "--wait", "--timeout", "120s")
        assert get_json(cluster, "clusterkopfpeering", release_name) is None
        assert get_json(cluster, "clusterrole", release_name) is None
        # Helm never deletes a chart's CRDs: other kopf operators may share these.
        assert all(crd_exists(cluster, name) for name in peering_crds)
    finally:
        for name, was_there in existed.items():
            if not was_there:  # created by this test: leave the cluster as it was
                cluster.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=true")
