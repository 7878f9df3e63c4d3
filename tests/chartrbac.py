"""The chart's own rights, for operators under test: ``helm template`` renders the
ServiceAccount, (Cluster)Roles and bindings of charts/berth for some values, they are
applied under a release of their own, and a TokenRequest (``kubectl create token``, as
kubelet makes for the chart's Pod) gives a kubeconfig that holds nothing but that token.

Every e2e operator runs with such a kubeconfig (tests/e2e/conftest.py ``chart_rights``),
so a verb the chart lacks fails a test; an operator that needs more says why
(``AdminRights``). hack/chaos.py runs its operators the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.clusterharness import BIN_DIR, REPO_ROOT, ClusterAccess, kubectl_binary
from tests.composer import EXAMPLE_KINDS

CHART = REPO_ROOT / "charts" / "berth"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
CLAIM_GROUP = "platform.acme.dev"
# The example claim kinds (examples/claim-crds), as a platform lists them in rbac.claims.
EXAMPLE_CLAIMS = {"apiGroup": CLAIM_GROUP, "resources": sorted(k.plural for k in EXAMPLE_KINDS)}
# The values every test operator's rights are rendered with, unless it asks for others:
# the chart's defaults, and the example claim kinds the tests provision.
DEFAULT_VALUES: dict[str, Any] = {"rbac": {"claims": [EXAMPLE_CLAIMS]}}


class HelmMissing(RuntimeError):
    pass


def run_kubectl(
    kubeconfig: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl_binary()), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def helm_template(
    tmp: Path, release: str, namespace: str, values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every document ``helm template`` renders for ``values``."""
    helm = BIN_DIR / "helm"
    if not helm.exists():
        raise HelmMissing(f"{helm} is missing: run `make tools` first")
    values_path = tmp / f"values-{release}.yaml"
    values_path.write_text(yaml.safe_dump(dict(values)))
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = str(tmp / "helm" / name.lower())
    command = [str(helm), "template", release, str(CHART), "--namespace", namespace]
    proc = subprocess.run(
        [*command, "-f", str(values_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def apply_docs(cluster: ClusterAccess, tmp: Path, docs: list[dict[str, Any]]) -> None:
    path = tmp / f"apply-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    cluster.kubectl("apply", "--server-side", "--field-manager=berth-rbac-test", "-f", str(path))


def token_kubeconfig(cluster: ClusterAccess, token: str, path: Path) -> Path:
    """A kubeconfig with the test cluster's server and CA, and only this bearer token."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = dict(
        next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])["cluster"]
    )
    ca = server.get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        server["certificate-authority"] = str((cluster.kubeconfig.parent / ca).resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "berth-test", "cluster": server}],
        "users": [{"name": "berth-operator", "user": {"token": token}}],
        "contexts": [
            {
                "name": "berth-operator",
                "context": {"cluster": "berth-test", "user": "berth-operator"},
            }
        ],
        "current-context": "berth-operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class ChartRbac:
    """The chart's RBAC for one set of values, applied, and a token of its ServiceAccount."""

    release: str
    namespace: str  # the release's, where its ServiceAccount lives
    service_account: str
    kubeconfig: Path  # holding a token of that ServiceAccount
    docs: list[dict[str, Any]]
    values: dict[str, Any] = field(default_factory=dict)
    # The namespace was made for this release (and goes with it).
    own_namespace: bool = True

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """kubectl as the ServiceAccount, with its token."""
        return run_kubectl(self.kubeconfig, *args)

    def can_i(self, verb: str, resource: str, *where: str) -> bool:
        resource, _, subresource = resource.partition("/")
        args = ["auth", "can-i", verb, resource, *where]
        if subresource:
            args.append(f"--subresource={subresource}")
        proc = self.kubectl(*args)
        answer = proc.stdout.strip().splitlines()[:1]
        assert answer in (["yes"], ["no"]), f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return answer == ["yes"]


@dataclass(frozen=True)
class AdminRights:
    """The test cluster's admin, for an operator that needs more than the chart grants;
    ``why`` says what (an e2e test that opts out of the chart's rights must say so)."""

    kubeconfig: Path
    why: str

    def __post_init__(self) -> None:
        if not self.why.strip():
            raise ValueError("an operator with the admin's rights must say why")


Rights = ChartRbac | AdminRights


def grant(
    cluster: ClusterAccess,
    tmp: Path,
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str | None = None,
    prefix: str = "berth-test",
) -> ChartRbac:
    """Render the chart's RBAC for ``values`` under a new release, apply it, and make a
    token of its ServiceAccount (two hours). The release lives in ``namespace`` (made,
    when not given: one of its own)."""
    values = dict(values if values is not None else DEFAULT_VALUES)
    release = f"{prefix}-{uuid.uuid4().hex[:6]}"
    own = namespace is None
    where = namespace or release
    if own:
        cluster.kubectl("create", "namespace", where)
        cluster.kubectl("label", "namespace", where, "berth.dev/test=true")
    docs = [d for d in helm_template(tmp, release, where, values) if d["kind"] in RBAC_KINDS]
    apply_docs(cluster, tmp, docs)
    (sa,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    proc = run_kubectl(cluster.kubeconfig, "create", "token", sa, "-n", where, "--duration=2h")
    assert proc.returncode == 0, proc.stderr
    kubeconfig = token_kubeconfig(cluster, proc.stdout.strip(), tmp / f"{release}.kubeconfig")
    return ChartRbac(release, where, sa, kubeconfig, docs, values, own)


def revoke(cluster: ClusterAccess, rights: ChartRbac) -> None:
    """Delete what ``grant`` made: the cluster-scoped roles and bindings, and the release's
    namespace when it made it (else its ServiceAccount and Roles)."""
    for doc in rights.docs:
        scoped = doc["kind"] in ("ClusterRole", "ClusterRoleBinding")
        if scoped or not rights.own_namespace:
            where = [] if scoped else ["-n", doc["metadata"].get("namespace") or rights.namespace]
            cluster.kubectl(
                "delete",
                doc["kind"].lower(),
                doc["metadata"]["name"],
                *where,
                "--ignore-not-found",
                check=False,
            )
    if rights.own_namespace:
        cluster.kubectl("delete", "namespace", rights.namespace, "--wait=false", check=False)


def values_key(values: Mapping[str, Any] | None) -> str:
    return json.dumps(values if values is not None else DEFAULT_VALUES, sort_keys=True)
