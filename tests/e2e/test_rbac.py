"""The operator with the chart's RBAC and nothing more: a token of its ServiceAccount.

Issue 5: the operator runs with the credentials of the chart's ServiceAccount, and
everything still works; the tests also show what it may not do.

How. ``helm template`` renders the chart's ServiceAccount, ClusterRole and
ClusterRoleBinding (``rbac.claims`` set to the example claim kinds) under a release name
of this run, applied in a namespace of its own. ``kubectl create token`` (TokenRequest)
gives a token of that ServiceAccount, and a kubeconfig holding only that token (server
and CA from the test cluster's) runs a second operator, ``python -m berth run``,
cluster-wide, as the chart's Deployment runs it by default, on ports of its own.

Why cluster-wide, next to other operators. The session's ``operator`` fixture may be
running too (this module does not use it), and so may other test sessions' operators on
the shared cluster. Environments are cluster-scoped: an operator started with
``--namespace`` still reconciles every Environment, counting only the Workloads of its
own namespaces, and would fight every cluster-wide operator over the status of other
people's Environments. A cluster-wide operator computes what the others compute (same
code, same field managers, server-side apply): where two reconcile one object, one
writes and the other finds nothing to change. So nothing here relies on being alone.
What is proved: this operator reconciled this module's objects through their whole life
(Ready, released, finalizers gone) and, in all that time, the API server refused it
nothing (its log names every failed reconcile and the reason); what another operator
may have done first is covered by ``kubectl auth can-i`` with the same token. The
refusals are shown with that token too, and for a few, by the API server refusing the
real request (server-side dry run, so nothing changes even if it were allowed).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.chartrbac import (  # re-exported: other modules read them from here
    CLAIM_GROUP,
    EXAMPLE_CLAIMS,
    RBAC_KINDS,
    ChartRbac,
    apply_docs,
    helm_template,
    run_kubectl,
    token_kubeconfig,
)
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer
from tests.e2e.conftest import OperatorProcess, start_operator
from tests.kubeutil import Berth, poll_until, wait_for

EXAMPLES = REPO_ROOT / "examples"
CLAIM_VERSION = "v1alpha1"
FINALIZER = "berth.dev/cleanup"
BINDINGS = "validatingadmissionpolicybindings.admissionregistration.k8s.io"
# The chart's admission policies that narrow what RBAC grants (a namespace the operator
# may delete is one it created), applied with its RBAC.
ADMISSION_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding", *ADMISSION_KINDS)
# Lines in the operator's log that say the API server refused it something.
# (Berth's own ApiError reads "403 Forbidden: ...", kopf's APIForbiddenError alike.)
REFUSAL = re.compile(r"forbidden", re.IGNORECASE)
FAILED_WORKLOAD = re.compile(r"reconcile of workload (?P<namespace>[^/\s]*)/\S+ failed")


# -- helpers ----------------------------------------------------------------------------


def create_namespace(core: k8s.CoreV1Api, name: str) -> None:
    core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"berth.dev/test": "true"}))
    )


def get_json(cluster: ClusterAccess, *args: str) -> dict[str, Any] | None:
    """An object as the test cluster's admin reads it; None when it does not exist."""
    out = cluster.kubectl("get", *args, "-o", "json", "--ignore-not-found")
    found: dict[str, Any] | None = json.loads(out) if out.strip() else None
    return found


def delete_namespace(core: k8s.CoreV1Api, name: str) -> None:
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as err:
        if err.status != 404:
            raise


def delete_cluster_scoped(cluster: ClusterAccess, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED:
            cluster.kubectl(
                "delete",
                doc["kind"].lower(),
                doc["metadata"]["name"],
                "--ignore-not-found",
                check=False,
            )


def refusals(log: str, own_namespaces: set[str]) -> list[str]:
    """Log lines saying the API server refused the operator something, except reconciles
    of Workloads in other namespaces (other tests' Workloads on the shared cluster may use
    kinds that this module's rbac.claims does not list)."""
    found = []
    for line in log.splitlines():
        if not REFUSAL.search(line):
            continue
        failed = FAILED_WORKLOAD.search(line)
        if failed and failed["namespace"] not in own_namespaces:
            continue
        found.append(line)
    return found


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rbac")


@pytest.fixture(scope="module")
def chart_rbac(
    cluster: ClusterAccess, api: ApiClient, module_tmp: Path, crds: None, claim_crds: None
) -> Iterator[ChartRbac]:
    """The chart's default RBAC for a release of this run, and a token of its ServiceAccount.

    The CRDs come first: `kubectl auth can-i` cannot answer for kinds the server does not serve."""
    release = f"berth-rbac-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api)
    create_namespace(core, release)
    docs: list[dict[str, Any]] = []
    try:
        values = {"rbac": {"claims": [EXAMPLE_CLAIMS]}}
        docs = [
            d
            for d in helm_template(module_tmp, release, release, values)
            # The release's own admission policies (the previews'); the Workload policy
            # ones (berth-policy-*) the session installed already, as the chart would.
            if d["kind"] in RBAC_KINDS
            or (d["kind"] in ADMISSION_KINDS and d["metadata"]["name"].startswith(release))
        ]
        # The operator's ClusterRole and its binding; the roles for people, which the
        # chart binds to no one: preview editors' and requesters', the promotion
        # approver's, promoter's and Environment viewer's.
        assert sorted(d["kind"] for d in docs if d["kind"] in RBAC_KINDS) == [
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ServiceAccount",
        ]
        (sa,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
        apply_docs(cluster, module_tmp, docs)
        # A TokenRequest, as kubelet makes for a Pod of the chart's Deployment.
        proc = run_kubectl(
            cluster.kubeconfig, "create", "token", sa, "-n", release, "--duration=2h"
        )
        assert proc.returncode == 0, proc.stderr
        kubeconfig = token_kubeconfig(
            cluster, proc.stdout.strip(), module_tmp / "operator.kubeconfig"
        )
        yield ChartRbac(release, release, sa, kubeconfig, docs)
    finally:
        delete_cluster_scoped(cluster, docs)
        delete_namespace(core, release)


@pytest.fixture(scope="module")
def claim_crds(cluster: ClusterAccess) -> None:
    """The example claim CRDs, as other e2e modules install them. Left installed: they are
    shared by every test session on the cluster, and deleting a CRD deletes every claim."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(EXAMPLES / "claim-crds")
    )
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        *(f"crd/{kind.plural}.{kind.group}" for kind in EXAMPLE_KINDS),
    )


@pytest.fixture(scope="module")
def composer(api: ApiClient, claim_crds: None) -> Iterator[TestOnlyComposer]:
    running = TestOnlyComposer(api, EXAMPLE_KINDS)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rbac_operator(
    chart_rbac: ChartRbac, crds: None, claim_crds: None, module_tmp: Path
) -> Iterator[OperatorProcess]:
    """A second operator, with nothing but the ServiceAccount's token."""
    running = start_operator(chart_rbac, module_tmp / "rbac-operator.log", resync=10)
    try:
        yield running
    finally:
        running.stop()


def environment_manifest(name: str) -> dict[str, Any]:
    """examples/environment.yaml (postgres by a Crossplane claim, redis by a template),
    serving a namespace of its name, deleting what its Workloads leave behind."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "environment.yaml").read_text())
    body["metadata"] = {"name": name, "labels": {"berth.dev/test": "true"}}
    body["spec"]["namespace"] = name
    body["spec"]["deletionPolicy"] = "Delete"
    return body


def shop_manifest(namespace: str) -> dict[str, Any]:
    """examples/shop.yaml: a postgres claim (DB_PASSWORD a secret output) and a redis."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "shop.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    return body


@dataclass
class Scene:
    """What a test arranges: Environments (each creating its namespace) and Workloads."""

    cluster: ClusterAccess
    api: ApiClient
    berth: Berth
    operator: OperatorProcess
    rbac: ChartRbac
    prefix: str
    environments: list[str]

    def environment(self, suffix: str) -> str:
        """An Environment, and the namespace the operator creates for it (named alike)."""
        name = f"{self.prefix}-{suffix}"
        self.environments.append(name)
        self.berth.create_environment(environment_manifest(name))

        def active() -> bool:
            namespace = self.get("namespace", name)
            return namespace is not None and namespace["status"]["phase"] == "Active"

        wait_for(active, 60, f"the operator to create namespace {name}")
        return name

    def get(self, *args: str) -> dict[str, Any] | None:
        return get_json(self.cluster, *args)

    def claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"postgresqlinstances.{CLAIM_GROUP}", name, "-n", namespace)

    def wait_ready(self, namespace: str, name: str) -> dict[str, Any]:
        self.cluster.kubectl(
            "wait",
            "--for=condition=Ready",
            f"workload/{name}",
            "-n",
            namespace,
            "--timeout=180s",
            timeout=200,
        )
        return self.berth.workload(namespace, name)

    def own_namespaces(self) -> set[str]:
        return {self.rbac.namespace, *self.environments}


@pytest.fixture(scope="module")
def scene(
    cluster: ClusterAccess,
    api: ApiClient,
    chart_rbac: ChartRbac,
    rbac_operator: OperatorProcess,
    composer: TestOnlyComposer,
) -> Iterator[Scene]:
    made = Scene(cluster, api, Berth(api), rbac_operator, chart_rbac, chart_rbac.release, [])
    yield made
    # Torn down before the operator stops: its finalizers need it. Whatever it leaves
    # stuck (only when a test failed) is freed by hand; all of it is this module's.
    core = k8s.CoreV1Api(api)
    for name in made.environments:
        cluster.kubectl("delete", "workloads", "--all", "-n", name, "--wait=false", check=False)
        made.berth.delete_environment(name)
    deadline = time.monotonic() + 60
    for name in made.environments:
        poll_until(
            lambda: made.get("environment", name) is None,  # noqa: B023  (called right here)
            max(0.0, deadline - time.monotonic()),
            interval=0.5,
        )
        unstick = ["--type=merge", "-p", '{"metadata":{"finalizers":null}}']
        out = cluster.kubectl("get", "workloads", "-n", name, "-o", "name", check=False)
        for workload in out.split():
            if workload.startswith("workload"):
                cluster.kubectl("patch", workload, "-n", name, *unstick, check=False)
        if made.get("environment", name) is not None:
            cluster.kubectl("patch", "environment", name, *unstick, check=False)
        delete_namespace(core, name)


# -- what the ServiceAccount may and may not do ------------------------------------------------


def test_the_token_is_the_chart_service_accounts(chart_rbac: ChartRbac) -> None:
    proc = chart_rbac.kubectl("auth", "whoami", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"]["userInfo"]["username"] == chart_rbac.user


# (verb, resource, where) for kubectl auth can-i; "-A" is every namespace at once.
MAY = [
    # kopf's indices and watches, cluster-wide
    ("list", "workloads.berth.dev", "-A"),
    ("watch", "workloads.berth.dev", "-A"),
    ("watch", "environments.berth.dev", "-A"),
    ("list", "clusterprovisioners.berth.dev", "-A"),
    ("watch", "clusterprovisioners.berth.dev", "-A"),
    ("watch", "deployments.apps", "-A"),
    ("watch", "services", "-A"),
    ("watch", "configmaps", "-A"),
    ("list", "pods", "-A"),
    ("watch", "pods", "-A"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", "-A"),
    # status and finalizers by server-side apply; Workloads of a deleted Environment
    ("patch", "workloads.berth.dev/status", "-n", "team-x"),
    ("patch", "workloads.berth.dev", "-n", "team-x"),
    ("update", "workloads.berth.dev/finalizers", "-n", "team-x"),
    ("delete", "workloads.berth.dev", "-n", "team-x"),
    ("patch", "environments.berth.dev/status", "-A"),
    ("patch", "environments.berth.dev", "-A"),
    # children: applied, dry-run applied, pruned
    ("create", "deployments.apps", "-n", "team-x"),
    ("patch", "deployments.apps", "-n", "team-x"),
    ("delete", "services", "-n", "team-x"),
    ("patch", "configmaps", "-n", "team-x"),
    # claims (rbac.claims: watched by Berth's label, so a claim's change wakes its
    # Workloads) and template objects (rbac.templateResources: listed by the sweep)
    *(
        (verb, f"{plural}.{CLAIM_GROUP}", "-n", "team-x")
        for plural in EXAMPLE_CLAIMS["resources"]
        for verb in ("get", "list", "watch", "create", "patch", "delete")
    ),
    ("watch", f"postgresqlinstances.{CLAIM_GROUP}", "-A"),
    ("create", "persistentvolumeclaims", "-n", "team-x"),
    ("list", "persistentvolumeclaims", "-n", "team-x"),
    ("patch", "ingresses.networking.k8s.io", "-n", "team-x"),
    ("delete", "ingresses.networking.k8s.io", "-n", "team-x"),
    # a connection Secret's keys, by name
    ("get", "secrets", "-n", "team-x"),
    # an Environment's namespace; Events
    ("get", "namespaces", "-A"),
    ("create", "namespaces", "-A"),
    ("patch", "namespaces", "-A"),
    ("create", "events", "-n", "team-x"),
    # a repeated Event counts up on the one posted
    ("patch", "events", "-n", "team-x"),
    # Berth's admission policies, bound per Environment: created when missing
    ("get", BINDINGS, "-A"),
    ("create", BINDINGS, "-A"),
    # previews: Previews (finalizer, status, an expired one deleted), their Environments,
    # copies of Workloads, the namespace Berth created deleted last by a teardown, and the
    # RoleBindings of a base's creators to the two preview ClusterRoles, by name
    ("watch", "previews.berth.dev", "-A"),
    ("patch", "previews.berth.dev", "-n", "team-x"),
    ("patch", "previews.berth.dev/status", "-n", "team-x"),
    ("delete", "previews.berth.dev", "-n", "team-x"),
    ("create", "environments.berth.dev", "-A"),
    ("delete", "environments.berth.dev", "-A"),
    ("create", "workloads.berth.dev", "-n", "team-x"),
    ("delete", "namespaces", "-A"),
    ("create", "rolebindings.rbac.authorization.k8s.io", "-n", "team-x"),
    # promotion: the target Workload written (created, or replaced on a resourceVersion),
    # revisions recorded and collected, Promotions and approvals watched, a Promotion's
    # status; the ServiceAccount's pull Secrets
    ("update", "workloads.berth.dev", "-n", "team-x"),
    ("create", "workloadrevisions.berth.dev", "-n", "team-x"),
    ("list", "workloadrevisions.berth.dev", "-n", "team-x"),
    ("delete", "workloadrevisions.berth.dev", "-n", "team-x"),
    ("watch", "promotions.berth.dev", "-A"),
    ("watch", "promotionapprovals.berth.dev", "-A"),
    ("patch", "promotions.berth.dev/status", "-n", "team-x"),
    ("get", "serviceaccounts", "-n", "team-x"),
]

MAY_NOT = [
    # Secrets: never listed or watched, anywhere, and never written
    ("list", "secrets", "-A"),
    ("watch", "secrets", "-A"),
    ("list", "secrets", "-n", "team-x"),
    ("watch", "secrets", "-n", "team-x"),
    ("create", "secrets", "-n", "team-x"),
    ("update", "secrets", "-n", "team-x"),
    ("patch", "secrets", "-n", "team-x"),
    ("delete", "secrets", "-n", "team-x"),
    ("deletecollection", "secrets", "-n", "team-x"),
    # Pods: only listed and watched (their failures): not read one by one, not exec'd
    # into, not created or deleted directly
    ("get", "pods", "-n", "team-x"),
    ("create", "pods/exec", "-n", "team-x"),
    ("get", "pods/exec", "-n", "team-x"),
    ("get", "pods/log", "-n", "team-x"),
    ("create", "pods", "-n", "team-x"),
    ("delete", "pods", "-n", "team-x"),
    # namespaces: never replaced (deleted only by a teardown: see MAY)
    ("update", "namespaces", "-A"),
    # no way to more rights
    ("create", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("patch", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("bind", "clusterroles.rbac.authorization.k8s.io", "-A"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", "-A"),
    ("patch", "rolebindings.rbac.authorization.k8s.io", "-n", "team-x"),
    ("delete", "rolebindings.rbac.authorization.k8s.io", "-n", "team-x"),
    ("impersonate", "serviceaccounts", "-n", "team-x"),
    ("create", "serviceaccounts/token", "-n", "team-x"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", "-A"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io", "-A"),
    # Environments and Previews: written by apply only, never updated (a Workload is
    # updated only as a Promotion's target, on a resourceVersion)
    ("update", "environments.berth.dev", "-A"),
    ("update", "previews.berth.dev", "-n", "team-x"),
    ("create", "previews.berth.dev", "-n", "team-x"),
    # ClusterProvisioners: the platform team's, read only
    ("create", "clusterprovisioners.berth.dev", "-A"),
    ("patch", "clusterprovisioners.berth.dev", "-A"),
    ("delete", "clusterprovisioners.berth.dev", "-A"),
    # children by apply only; claims never updated, template objects never watched
    ("update", "deployments.apps", "-n", "team-x"),
    ("patch", "deployments.apps/scale", "-n", "team-x"),
    ("update", f"postgresqlinstances.{CLAIM_GROUP}", "-n", "team-x"),
    ("watch", "persistentvolumeclaims", "-n", "team-x"),
    ("delete", "events", "-n", "team-x"),
    # admission (issue 18): the chart ships the policies; the operator only creates
    # bindings: it can change or remove none, Berth's or another policy's
    ("get", "validatingadmissionpolicies.admissionregistration.k8s.io", "-A"),
    ("create", "validatingadmissionpolicies.admissionregistration.k8s.io", "-A"),
    ("patch", "validatingadmissionpolicies.admissionregistration.k8s.io", "-A"),
    ("list", BINDINGS, "-A"),
    ("watch", BINDINGS, "-A"),
    ("delete", BINDINGS, "-A"),
    ("update", BINDINGS, "-A"),
    ("patch", BINDINGS, "-A"),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "-A"),
    # revisions never changed; Promotions and approvals are people's, never written
    # (but a Promotion's status); ServiceAccounts read by name only
    ("update", "workloadrevisions.berth.dev", "-n", "team-x"),
    ("patch", "workloadrevisions.berth.dev", "-n", "team-x"),
    ("create", "promotionapprovals.berth.dev", "-n", "team-x"),
    ("delete", "promotionapprovals.berth.dev", "-n", "team-x"),
    ("create", "promotions.berth.dev", "-n", "team-x"),
    ("update", "promotions.berth.dev", "-n", "team-x"),
    ("patch", "promotions.berth.dev", "-n", "team-x"),
    ("list", "serviceaccounts", "-A"),
    # nothing else
    ("get", "nodes", "-A"),
    ("create", "persistentvolumes", "-A"),
]


def test_the_service_account_may_do_what_the_operator_does(chart_rbac: ChartRbac) -> None:
    refused = [" ".join(case) for case in MAY if not chart_rbac.can_i(*case)]
    assert not refused, f"{chart_rbac.user} may not: {refused}"


def test_the_service_account_binds_the_two_preview_roles_and_no_other(
    chart_rbac: ChartRbac,
) -> None:
    """``bind`` names exactly the two preview ClusterRoles; the RoleBindings it may change
    or delete are exactly the two it writes."""

    def can(verb: str, named: str, *where: str) -> bool:
        proc = chart_rbac.kubectl("auth", "can-i", verb, named, *where)
        return proc.stdout.strip().splitlines()[:1] == ["yes"]

    roles = "clusterroles.rbac.authorization.k8s.io"
    for role in ("berth-preview-editor", "berth-preview-requester"):
        assert can("bind", f"{roles}/{role}")
    for other in ("cluster-admin", "admin", "edit", chart_rbac.release):
        assert not can("bind", f"{roles}/{other}"), other
    bindings = "rolebindings.rbac.authorization.k8s.io"
    for mine in ("berth-preview-editors", "berth-preview-requesters"):
        assert can("patch", f"{bindings}/{mine}", "-n", "team-x")
        assert can("delete", f"{bindings}/{mine}", "-n", "team-x")
    assert not can("patch", f"{bindings}/someone-elses", "-n", "team-x")
    assert not can("delete", f"{bindings}/someone-elses", "-n", "team-x")


def test_the_service_account_may_not_do_anything_else(chart_rbac: ChartRbac) -> None:
    allowed = [" ".join(case) for case in MAY_NOT if chart_rbac.can_i(*case)]
    assert not allowed, f"{chart_rbac.user} may: {allowed}"


def test_the_api_server_refuses_the_real_requests(chart_rbac: ChartRbac, module_tmp: Path) -> None:
    """Not only RBAC's opinion: the requests themselves fail with Forbidden. Writes are
    server-side dry runs, so that nothing would change even if one were allowed."""
    ns = chart_rbac.namespace
    environment = module_tmp / "replace-environment.yaml"
    environment.write_text(yaml.safe_dump(environment_manifest(f"{ns}-env")))
    approval = module_tmp / "approval.yaml"
    approval.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "berth.dev/v1alpha1",
                "kind": "PromotionApproval",
                "metadata": {"name": "self-approved", "namespace": ns},
                "spec": {"promotion": "any", "approver": chart_rbac.user},
            }
        )
    )
    attempts = {
        "list secrets cluster-wide": ["get", "secrets", "-A"],
        "list secrets in a namespace": ["get", "secrets", "-n", ns],
        "create a secret": [
            "create",
            "secret",
            "generic",
            "x",
            "-n",
            ns,
            "--from-literal=a=b",
            "--dry-run=server",
        ],
        # (RBAC lets a teardown delete namespaces; the chart's admission policy only one
        # the operator created, which this one is not)
        "delete a namespace": ["delete", "namespace", ns, "--dry-run=server"],
        "bind cluster-admin": [
            "create",
            "clusterrolebinding",
            f"{chart_rbac.release}-escalate",
            "--clusterrole=cluster-admin",
            f"--serviceaccount={ns}:{chart_rbac.service_account}",
            "--dry-run=server",
        ],
        # A Workload's spec is written only as a Promotion's target; an Environment's never.
        "update an Environment (its spec)": [
            "replace",
            "-f",
            str(environment),
            "--dry-run=server",
        ],
        # The operator never approves a promotion itself.
        "approve a promotion": ["create", "-f", str(approval), "--dry-run=server"],
        "read a Pod": ["get", "pod", "x", "-n", ns],
    }
    for what, args in attempts.items():
        proc = chart_rbac.kubectl(*args)
        assert proc.returncode != 0, f"{what} was allowed: {proc.stdout}"
        assert "forbidden" in proc.stderr.lower(), f"{what}: {proc.stderr}"


def test_namespaced_mode_grants_workload_rights_only_in_the_served_namespaces(
    cluster: ClusterAccess, api: ApiClient, module_tmp: Path
) -> None:
    """With operator.namespaces, Secrets, children, claims and Workloads are granted by
    RoleBindings in those namespaces only; cluster-scoped things stay cluster-wide."""
    release = f"berth-rbac-ns-{uuid.uuid4().hex[:6]}"
    served = f"{release}-served"
    values = {"rbac": {"claims": [EXAMPLE_CLAIMS]}, "operator": {"namespaces": [served]}}
    docs = [
        d for d in helm_template(module_tmp, release, release, values) if d["kind"] in RBAC_KINDS
    ]
    assert [d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"] == [served]
    core = k8s.CoreV1Api(api)
    create_namespace(core, release)
    create_namespace(core, served)
    try:
        apply_docs(cluster, module_tmp, docs)
        sa = f"system:serviceaccount:{release}:{release}"

        def can_i(verb: str, resource: str, *where: str) -> bool:
            out = cluster.kubectl("auth", "can-i", verb, resource, *where, "--as", sa, check=False)
            return out.strip().splitlines()[0] == "yes"

        in_served = [
            ("get", "secrets"),
            ("create", "deployments.apps"),
            ("get", f"postgresqlinstances.{CLAIM_GROUP}"),
            ("delete", "workloads.berth.dev"),
            ("list", "workloads.berth.dev"),
            ("create", "ingresses.networking.k8s.io"),
        ]
        for verb, resource in in_served:
            assert can_i(verb, resource, "-n", served), f"may not {verb} {resource} in {served}"
            for elsewhere in ("default", release):
                assert not can_i(verb, resource, "-n", elsewhere), (
                    f"may {verb} {resource} in {elsewhere}"
                )
            assert not can_i(verb, resource, "-A"), f"may {verb} {resource} cluster-wide"
        for verb, resource in [
            ("watch", "environments.berth.dev"),
            ("patch", "environments.berth.dev/status"),
            ("list", "namespaces"),
            ("create", "namespaces"),
        ]:
            assert can_i(verb, resource, "-A"), f"may not {verb} {resource}"
        assert not can_i("list", "secrets", "-n", served)
        assert not can_i("watch", "secrets", "-n", served)
    finally:
        delete_cluster_scoped(cluster, docs)
        delete_namespace(core, served)
        delete_namespace(core, release)


# -- the operator under that token ----------------------------------------------------------


def test_a_workload_with_a_claim_and_a_template_resource_runs_and_is_released(
    scene: Scene,
) -> None:
    successes = scene.operator.metric("berth_reconciles_total", kind="workload", result="success")
    ns = scene.environment("shop")
    scene.berth.create_workload(ns, shop_manifest(ns))
    workload = scene.wait_ready(ns, "shop")

    assert FINALIZER in workload["metadata"]["finalizers"]
    entries = {e["name"]: e for e in workload["status"]["resources"]}
    db, cache = entries["db"], entries["cache"]
    assert (db["state"], db["provisioner"]) == ("Ready", "postgres")
    assert (cache["state"], cache["provisioner"]) == ("Ready", "redis-dev")
    claim = scene.claim(ns, db["claim"]["name"])
    assert claim is not None
    secret_name = claim["spec"]["writeConnectionSecretToRef"]["name"]

    deployment = scene.get("deployment", "shop", "-n", ns)
    assert deployment is not None
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "password"}},
    }
    assert env["DB_HOST"]["value"] == f"{claim['metadata']['name']}.postgres.internal"
    (redis,) = [o for o in cache["objects"] if o["kind"] == "Deployment"]
    assert env["REDIS_ADDR"]["value"] == f"{redis['name']}:6379"
    assert scene.get("deployment", redis["name"], "-n", ns), "the template's Deployment"
    # The password is in no object Berth wrote.
    password = f"pw-{claim['metadata']['name']}"
    for written in (workload, deployment):
        assert password not in json.dumps(written)

    # The token reads that Secret by name (its keys tell Berth which outputs exist), and
    # cannot list the Secrets beside it.
    assert scene.rbac.kubectl("get", "secret", secret_name, "-n", ns).returncode == 0
    assert "forbidden" in scene.rbac.kubectl("get", "secrets", "-n", ns).stderr.lower()

    # Deleted: the claim and the template's objects go (deletionPolicy Delete), then the
    # finalizer, then the Workload.
    scene.berth.delete_workload(ns, "shop")
    wait_for(lambda: scene.get("workload", "shop", "-n", ns) is None, 60, "the Workload to go")
    wait_for(lambda: scene.claim(ns, claim["metadata"]["name"]) is None, 30, "the claim to go")
    wait_for(
        lambda: scene.get("deployment", redis["name"], "-n", ns) is None,
        30,
        "the redis Deployment to go",
    )
    assert scene.operator.process.poll() is None, "the operator died"
    assert (
        scene.operator.metric("berth_reconciles_total", kind="workload", result="success")
        > successes
    )
    assert not refusals(scene.operator.log_path.read_text(), scene.own_namespaces())


def test_deleting_an_environment_takes_its_workloads_and_their_claims(scene: Scene) -> None:
    """deletionPolicy Delete: the operator deletes the Workloads (``delete workloads``),
    each releases its claim, then the Environment's finalizer goes."""
    ns = scene.environment("doomed")
    scene.berth.create_workload(ns, shop_manifest(ns))
    workload = scene.wait_ready(ns, "shop")
    claim_name = next(e for e in workload["status"]["resources"] if e["name"] == "db")["claim"][
        "name"
    ]
    assert FINALIZER in scene.berth.environment(ns)["metadata"]["finalizers"]

    scene.berth.delete_environment(ns)
    wait_for(lambda: scene.get("environment", ns) is None, 60, "the Environment to go")
    assert scene.get("workload", "shop", "-n", ns) is None
    wait_for(lambda: scene.claim(ns, claim_name) is None, 30, "the claim to go")
    assert not refusals(scene.operator.log_path.read_text(), scene.own_namespaces())


def test_the_operator_was_refused_nothing(scene: Scene) -> None:
    """Over the whole module: not one request of the operator refused, watches included
    (other tests' Workloads aside, see ``refusals``)."""
    log = scene.operator.log_path.read_text()
    assert not refusals(log, scene.own_namespaces())
    assert scene.operator.process.poll() is None
    assert scene.operator.metric("berth_reconciles_total", kind="environment", result="success") > 0
