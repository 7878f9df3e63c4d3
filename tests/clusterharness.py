"""Reach a real Kubernetes API server for integration and e2e tests, and the scripts.

Either the local control plane that hack/cluster.sh runs (a cluster of its own,
``berth-test``, so that a developer's ``make dev`` cluster is left alone), or an
existing cluster named by ``BERTH_TEST_KUBECONFIG`` — guarded so that a context not
meant for tests is refused. A cluster that cannot be had fails the run: it never
skips.

``LocalCluster`` names one such control plane (name, state directory, hack/cluster.sh
profile): the tests' is ``TEST_CLUSTER``; hack/chaos.py and hack/bench/ start their own
(``berth-chaos``, ``berth-bench``) and reach them through the same ``ClusterAccess``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = REPO_ROOT / ".bin"
CLUSTER_SCRIPT = REPO_ROOT / "hack" / "cluster.sh"
TEST_CLUSTER_NAME = "berth-test"
TEST_CLUSTER_DIR = REPO_ROOT / ".cluster" / "test"
# kubectl's discovery cache is keyed by host:port; in ~/.kube/cache, another cluster that
# once listened on the same port (a sibling worktree's) answers for ours with its kinds.
# So every cluster's kubectl keeps its cache in the cluster's own directory.
KUBECTL_CACHE = "kubectl-cache"
KUBECTL_CACHE_DIR = TEST_CLUSTER_DIR / KUBECTL_CACHE

# A context is taken as meant for tests when its name says so. Anything else must
# be named exactly in BERTH_TEST_CONTEXT, so a production context is never used by
# accident.
TEST_CONTEXT_PATTERN = re.compile(r"^(kwok-|kind-|k3d-|minikube$)|test")


class ClusterUnavailable(RuntimeError):
    """The suite cannot get its cluster; the message says why and what to do."""


class KubectlFailed(AssertionError):
    """A kubectl call that had to succeed did not; the message carries its output."""


@dataclass(frozen=True)
class ClusterAccess:
    kubeconfig: Path
    context: str
    started_here: bool
    kubectl_cache: Path = KUBECTL_CACHE_DIR

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> str:
        """kubectl's stdout and stderr; ``KubectlFailed`` when it fails and ``check``."""
        proc = self.run_kubectl(*args, timeout=timeout, stdin=stdin)
        if check and proc.returncode != 0:
            raise KubectlFailed(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    def succeeds(self, *args: str, timeout: float = 120) -> bool:
        """Whether kubectl exits 0 (a probe: its output is of no interest)."""
        return self.run_kubectl(*args, timeout=timeout).returncode == 0

    def run_kubectl(
        self, *args: str, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            str(kubectl_binary()),
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.kubectl_cache),
            *args,
        ]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class LocalCluster:
    """A local control plane run by hack/cluster.sh: its name, its state directory (the
    kubeconfig is written there) and its profile (``bench``: sized for the benchmark)."""

    name: str
    directory: Path
    profile: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "BERTH_CLUSTER_NAME": self.name,
            "BERTH_CLUSTER_DIR": str(self.directory),
        }
        if self.profile:
            env["BERTH_PROFILE"] = self.profile
        return env

    def script(
        self, action: str, *, quiet: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """``hack/cluster.sh ACTION`` for this cluster; its output captured when ``quiet``,
        else on the terminal (a script's user sees the cluster come up)."""
        return subprocess.run(
            [str(CLUSTER_SCRIPT), action],
            env=self.env(),
            capture_output=quiet,
            text=True,
            timeout=timeout,
            check=False,
        )

    def is_up(self) -> bool:
        return self.script("status").returncode == 0

    def up(self, *, quiet: bool = True) -> None:
        """Start it (a no-op when it is up); ``ClusterUnavailable`` saying why it did not."""
        proc = self.script("up", quiet=quiet)
        if proc.returncode != 0:
            raise ClusterUnavailable(
                f"the local cluster {self.name} did not start (hack/cluster.sh up)"
                + (":\n" + proc.stdout + proc.stderr if quiet else "")
            )

    def down(self, *, quiet: bool = True) -> None:
        self.script("down", quiet=quiet, timeout=120)

    def access(self, *, started_here: bool) -> ClusterAccess:
        return ClusterAccess(
            self.kubeconfig,
            current_context(self.kubeconfig),
            started_here=started_here,
            kubectl_cache=self.directory / KUBECTL_CACHE,
        )


TEST_CLUSTER = LocalCluster(TEST_CLUSTER_NAME, TEST_CLUSTER_DIR)


def kubectl_binary() -> Path:
    path = BIN_DIR / "kubectl"
    if not path.exists():
        raise ClusterUnavailable(f"{path} is missing: run `make tools` first")
    return path


def current_context(kubeconfig: Path) -> str:
    try:
        config = yaml.safe_load(kubeconfig.read_text())
    except OSError as err:
        raise ClusterUnavailable(f"cannot read kubeconfig {kubeconfig}: {err}") from err
    context = (config or {}).get("current-context")
    if not context:
        raise ClusterUnavailable(f"kubeconfig {kubeconfig} has no current-context")
    return str(context)


def check_context_is_for_tests(context: str, allowed: str | None) -> None:
    """Refuse any context that is not plainly a test cluster."""
    if allowed is not None:
        if context != allowed:
            raise ClusterUnavailable(
                f"BERTH_TEST_CONTEXT={allowed!r} but the kubeconfig's current context is "
                f"{context!r}; refusing to run tests against it"
            )
        return
    if not TEST_CONTEXT_PATTERN.search(context):
        raise ClusterUnavailable(
            f"refusing to run tests against context {context!r}: its name does not look like "
            "a test cluster (kwok-*, kind-*, k3d-*, minikube or containing 'test'). If it "
            "really is one, set BERTH_TEST_CONTEXT to its exact name."
        )


def acquire() -> ClusterAccess:
    """Return the cluster for this test session, starting the local one if needed."""
    external = os.environ.get("BERTH_TEST_KUBECONFIG")
    if external:
        kubeconfig = Path(external).expanduser().resolve()
        context = current_context(kubeconfig)
        check_context_is_for_tests(context, os.environ.get("BERTH_TEST_CONTEXT"))
        return ClusterAccess(kubeconfig, context, started_here=False)

    was_up = TEST_CLUSTER.is_up()
    if not was_up:
        TEST_CLUSTER.up()
    return TEST_CLUSTER.access(started_here=not was_up)


def release(cluster: ClusterAccess) -> None:
    """Stop the local cluster if this session started it (unless asked to keep it)."""
    if not cluster.started_here or os.environ.get("BERTH_TEST_KEEP_CLUSTER") == "1":
        return
    TEST_CLUSTER.down()


# The admission policies `make dev` and the chart install (`make crds` generates them).
ADMISSION_POLICIES = REPO_ROOT / "admission" / "policies.yaml"
# A namespace no Environment serves, where a dry-run Workload shows the policies at work.
UNSERVED_NAMESPACE = "default"


def install_admission_policies(cluster: ClusterAccess, timeout: float = 60) -> None:
    """Apply admission/ (the ValidatingAdmissionPolicies the chart ships), as the chart
    does, and return once the API server enforces them: each policy type-checked without
    a warning, and a Workload in a namespace no Environment serves refused."""
    from tests.kubeutil import wait_for

    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ADMISSION_POLICIES))
    names = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all(ADMISSION_POLICIES.read_text())
        if d and d["kind"] == "ValidatingAdmissionPolicy"
    ]

    def type_checked(name: str) -> bool:
        policy = json.loads(cluster.kubectl("get", "validatingadmissionpolicy", name, "-o", "json"))
        status = policy.get("status") or {}
        warnings = (status.get("typeChecking") or {}).get("expressionWarnings") or []
        if warnings:
            raise AssertionError(
                f"ValidatingAdmissionPolicy {name} does not type-check: {warnings}"
            )
        return bool(status.get("observedGeneration") == policy["metadata"]["generation"])

    wait_for(
        lambda: all(type_checked(name) for name in names),
        timeout,
        f"ValidatingAdmissionPolicies {', '.join(names)} type-checked",
    )
    probe = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "admission-probe", "namespace": UNSERVED_NAMESPACE},
        "spec": {"containers": {"main": {"image": "registry.acme.dev/probe:1"}}},
    }
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "probe.yaml"
        path.write_text(yaml.safe_dump(probe))
        wait_for(
            lambda: (
                "no Environment serves namespace"
                in cluster.kubectl("create", "--dry-run=server", "-f", str(path), check=False)
            ),
            timeout,
            "the admission policies in force (a Workload where no Environment is, refused)",
            interval=0.5,
        )
