"""The operator image, proven: built here, run from its own filesystem, installed by Helm
from a registry.

How, with no container engine that can run containers on this machine:

- ``hack/image.sh`` builds the Dockerfile with buildah (chroot isolation) on a Debian
  base made by debootstrap, into an OCI image layout (warm caches: seconds).
- ``hack/image-run.sh`` starts the image's process as a runtime would, from the
  unpacked layers: the config's user (65532), environment and entrypoint, a read-only
  root filesystem, a tmpfs on /tmp, and, for the operator, a ServiceAccount directory at
  /var/run/secrets/kubernetes.io/serviceaccount plus ``KUBERNETES_SERVICE_HOST/PORT``:
  in-cluster configuration, as in a Pod. ``--no-network`` gives it no network at all.
- A registry on loopback (go-containerregistry's ``crane registry serve``) receives the
  image (``crane push``) and the chart (``hack/chart-package.sh`` naming that image,
  ``hack/chart-push.sh``); ``helm install`` from ``oci://`` puts the chart on the test
  cluster, where its Pod is scheduled on a kwok node (kwok runs no container).
- The chart's own Deployment is then run for real, outside the cluster: the Pod's
  ``command`` and ``args`` from the API server, its ServiceAccount's token from a
  TokenRequest, the ConfigMap ``kube-root-ca.crt`` as kubelet projects it, and the
  image's entrypoint from the unpacked image. The quick-start examples become Ready.

Like the RBAC test (whose helpers this reuses), this operator may share the cluster with
others; what is proved is that it reconciled this module's objects and was refused
nothing. It needs root (mount namespaces, chroot), as the image build does.
"""

from __future__ import annotations

import json
import os
import subprocess
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

import berth
from tests.clusterharness import BIN_DIR, REPO_ROOT, ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.test_rbac import (
    EXAMPLE_CLAIMS,
    EXAMPLES,
    claim_crds,
    composer,
    create_namespace,
    delete_namespace,
    environment_manifest,
    get_json,
    refusals,
    run_kubectl,
)
from tests.kubeutil import Berth, wait_for
from tests.operatorharness import OperatorFailed, OperatorProcess, free_port, launch
from tests.registryharness import LocalRegistry, local_registry

__all__ = ["claim_crds", "composer"]  # fixtures, shared with the RBAC test

# A cold build (debootstrap, every wheel) takes several minutes on a busy machine.
pytestmark = pytest.mark.timeout(1800)

UID = 65532
CRANE = BIN_DIR / "crane"
HELM = BIN_DIR / "helm"
QUICK_START = ("hello", "checkout", "shop")


# -- helpers ------------------------------------------------------------------------------


def run(cmd: list[str], timeout: float = 300, **kwargs: Any) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
    )
    return proc.stdout


@dataclass(frozen=True)
class Image:
    layout: Path
    tag: str
    bundle: Path  # where hack/image-run.sh unpacks it
    summary: dict[str, Any]
    build_seconds: float

    def run_args(self) -> list[str]:
        return [
            str(REPO_ROOT / "hack" / "image-run.sh"),
            "--layout",
            str(self.layout),
            "--tag",
            self.tag,
            "--bundle",
            str(self.bundle),
        ]

    def offline(self, *args: str) -> str:
        """The image's entrypoint with ARGS, in a network namespace of its own."""
        return run([*self.run_args(), "--no-network", "--", *args], timeout=120)


def helm_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = str(home / name.lower())
    return env


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image")


@pytest.fixture(scope="module")
def image(module_tmp: Path) -> Image:
    """`make image`: hack/image.sh, into a directory of this run."""
    if os.geteuid() != 0:
        pytest.fail("the image tests need root (debootstrap, chroot, mount namespaces)")
    out = module_tmp / "build"
    start = time.monotonic()
    proc = subprocess.run(
        [str(REPO_ROOT / "hack" / "image.sh"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-6000:]
    tag = (out / "tag").read_text().strip()
    summary = json.loads(
        run(
            [
                "python3",
                str(REPO_ROOT / "hack" / "image_config.py"),
                "summary",
                str(out / "oci"),
                tag,
            ]
        )
    )
    return Image(out / "oci", tag, module_tmp / "bundle", summary, seconds)


@pytest.fixture(scope="module")
def release_tools() -> None:
    """crane (and actionlint) from their Go modules; seconds when cached."""
    run([str(REPO_ROOT / "hack" / "release-tools.sh")], timeout=900)


@pytest.fixture(scope="module")
def registry(module_tmp: Path, release_tools: None) -> Iterator[LocalRegistry]:
    """go-containerregistry's registry, on loopback only, blobs on disk; stopped by pid."""
    with local_registry(module_tmp / "registry") as running:
        yield running


@dataclass(frozen=True)
class Published:
    image: str  # repository, without tag
    chart_url: str  # oci://.../charts/berth
    chart_digest_ref: str


@pytest.fixture(scope="module")
def published(image: Image, registry: LocalRegistry, module_tmp: Path) -> Published:
    """The image (as <version> and as its build tag) and the chart, in the registry."""
    version = berth.__version__
    repository = f"{registry.host}/berth/berth"
    run([str(CRANE), "push", str(image.layout), f"{repository}:{version}"])
    run([str(CRANE), "tag", f"{repository}:{version}", image.tag])
    package = run(
        [
            str(REPO_ROOT / "hack" / "chart-package.sh"),
            "--image-repository",
            repository,
            "--out",
            str(module_tmp / "chart"),
        ]
    ).strip()
    ref = run(
        [
            str(REPO_ROOT / "hack" / "chart-push.sh"),
            package,
            f"oci://{registry.host}/berth/charts",
            "--plain-http",
        ],
        env={**os.environ, "HELM_CONFIG_HOME": str(module_tmp / "helm-config")},
    ).strip()
    return Published(repository, f"oci://{registry.host}/berth/charts/berth", ref)


@dataclass(frozen=True)
class Release:
    name: str  # also its namespace
    deployment: dict[str, Any]
    pod: dict[str, Any]
    health_port: int
    metrics_port: int


@pytest.fixture(scope="module")
def release(
    cluster: ClusterAccess,
    api: ApiClient,
    published: Published,
    module_tmp: Path,
    crds: None,
    claim_crds: None,
) -> Iterator[Release]:
    """`helm install` from the registry, no image values set: the chart's defaults."""
    name = f"berth-img-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api)
    create_namespace(core, name)
    health_port, metrics_port = free_port(), free_port()
    values = module_tmp / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "rbac": {"claims": [EXAMPLE_CLAIMS]},
                # Cluster-scoped, one set per cluster: the test session installed them.
                "admissionPolicies": {"enabled": False},
                "previews": {"roles": False},
                # The operator runs on this host: ports of its own, not 8080/8081.
                "operator": {"healthPort": health_port, "metricsPort": metrics_port},
            }
        )
    )
    env = helm_env(module_tmp / "helm")
    kube = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", name]
    installed = False
    try:
        run(
            [
                str(HELM),
                "install",
                name,
                published.chart_url,
                "--version",
                berth.__version__,
                "--plain-http",
                "--skip-crds",
                "-f",
                str(values),
                *kube,
                "--wait",
                "--timeout",
                "180s",
            ],
            env=env,
            timeout=240,
        )
        installed = True
        deployment = get_json(cluster, "deployment", name, "-n", name)
        assert deployment is not None
        pods = get_json(cluster, "pods", "-n", name, "-l", f"app.kubernetes.io/instance={name}")
        assert pods is not None
        (pod,) = pods["items"]
        yield Release(name, deployment, pod, health_port, metrics_port)
    finally:
        if installed:
            run([str(HELM), "uninstall", name, *kube, "--wait", "--timeout", "120s"], env=env)
        delete_namespace(core, name)


@pytest.fixture(scope="module")
def image_operator(
    cluster: ClusterAccess, image: Image, release: Release, module_tmp: Path
) -> Iterator[OperatorProcess]:
    """The chart's Pod, run from the image on this host: its command, args and env from
    the API server; its ServiceAccount's token and CA where kubelet mounts them."""
    pod_spec = release.pod["spec"]
    (container,) = pod_spec["containers"]
    sa_dir = module_tmp / "serviceaccount"
    sa_dir.mkdir()
    token = run_kubectl(
        cluster.kubeconfig,
        "create",
        "token",
        pod_spec["serviceAccountName"],
        "-n",
        release.name,
        "--duration=2h",
    )
    assert token.returncode == 0, token.stderr
    (sa_dir / "token").write_text(token.stdout.strip())
    root_ca = get_json(cluster, "configmap", "kube-root-ca.crt", "-n", release.name)
    assert root_ca is not None, "kube-root-ca.crt is published in every namespace"
    (sa_dir / "ca.crt").write_text(root_ca["data"]["ca.crt"])
    (sa_dir / "namespace").write_text(release.name)
    for path in sa_dir.iterdir():
        path.chmod(0o644)  # readable by the image's user, as kubelet's projection is

    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    host, _, port = server.removeprefix("https://").rpartition(":")
    env: list[str] = []
    for item in container.get("env", []):
        if "value" in item:
            env += ["--env", f"{item['name']}={item['value']}"]
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env += ["--env", f"{item['name']}={release.pod['metadata']['name']}"]
    (command,) = container["command"]  # the non-HA chart: command [berth], args [run, ...]
    running = launch(
        [
            *image.run_args(),
            "--sa-dir",
            str(sa_dir),
            "--env",
            f"KUBERNETES_SERVICE_HOST={host}",
            "--env",
            f"KUBERNETES_SERVICE_PORT={port}",
            *env,
            "--entrypoint",
            command,
            "--",
            *container["args"],
        ],
        module_tmp / "image-operator.log",
        release.metrics_port,
        release.health_port,
    )
    try:
        try:
            running.wait_answering("/healthz", 120)
        except OperatorFailed as err:
            raise AssertionError(f"the image's operator did not come up: {err}") from None
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def quick_start(
    cluster: ClusterAccess,
    api: ApiClient,
    image_operator: OperatorProcess,
    composer: TestOnlyComposer,
    release: Release,
) -> Iterator[str]:
    """examples/environment.yaml and the quick-start Workloads, in a namespace of ours."""
    name = f"{release.name}-qs"
    made = Berth(api)
    made.create_environment(environment_manifest(name))
    try:
        wait_for(
            lambda: (
                (get_json(cluster, "namespace", name) or {}).get("status", {}).get("phase")
                == "Active"
            ),
            60,
            f"the operator to create namespace {name}",
        )
        for workload in QUICK_START:
            body = yaml.safe_load((EXAMPLES / f"{workload}.yaml").read_text())
            body["metadata"]["namespace"] = name
            made.create_workload(name, body)
        yield name
    finally:
        # Torn down while the operator runs: its finalizers need it.
        cluster.kubectl("delete", "workloads", "--all", "-n", name, "--timeout=90s", check=False)
        made.delete_environment(name)
        wait_for(lambda: get_json(cluster, "environment", name) is None, 90, "the Environment")
        delete_namespace(k8s.CoreV1Api(api), name)


# -- the image itself ---------------------------------------------------------------------


def test_the_image_is_built_with_a_tag_of_version_and_commit(image: Image) -> None:
    commit = run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"]).strip()
    assert image.tag.startswith(f"{berth.__version__}-g{commit[:12]}")
    labels = image.summary["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == berth.__version__
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "org.opencontainers.image.source" in labels
    assert (image.summary["os"], image.summary["architecture"]) == ("linux", "amd64")


def test_it_runs_as_a_fixed_non_root_user_and_owns_none_of_its_files(image: Image) -> None:
    config = image.summary["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["/opt/berth/bin/berth"]
    assert config["Cmd"] == ["run"]
    # The process runs as that user (its own view of itself)...
    ids = image.offline("--version")  # unpacks the bundle on first use
    assert ids.strip() == f"berth {berth.__version__}"
    rootfs = image.bundle / "rootfs"
    # ... and can write nothing of the image: every file is root's, none world-writable
    # (the root filesystem is read-only at run time anyway; see image-run.sh).
    for dirpath, dirnames, files in os.walk(rootfs / "opt" / "berth"):
        for name in [*dirnames, *files]:
            st = os.lstat(os.path.join(dirpath, name))
            assert st.st_uid == 0, os.path.join(dirpath, name)
            assert not (st.st_mode & 0o002) or os.path.islink(os.path.join(dirpath, name))


def test_version_and_crds_work_with_no_network(image: Image) -> None:
    assert image.offline("--version").strip() == f"berth {berth.__version__}"
    printed = [d for d in yaml.safe_load_all(image.offline("crds")) if d]
    generated = [yaml.safe_load(p.read_text()) for p in sorted((REPO_ROOT / "crds").glob("*.yaml"))]
    assert sorted(printed, key=lambda c: c["metadata"]["name"]) == sorted(
        generated, key=lambda c: c["metadata"]["name"]
    )


def test_the_size(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    image.offline("--version")
    compressed = image.summary["compressed_bytes"]
    unpacked = tree_bytes(image.bundle / "rootfs")
    with capsys.disabled():
        print(
            f"\n[image] {image.tag}: {compressed / 1e6:.1f} MB compressed "
            f"({image.summary['layers']} layers), {unpacked / 1e6:.1f} MB unpacked; "
            f"make image took {image.build_seconds:.0f}s"
        )
    # A Debian minbase with Python and the operator's dependencies; a bound, to notice
    # if something large slips in (a compiler, pip caches, apt lists).
    assert compressed < 120e6
    assert not list((image.bundle / "rootfs" / "var" / "lib" / "apt" / "lists").glob("*Packages*"))
    assert not list((image.bundle / "rootfs" / "opt" / "berth").rglob("pip"))


# -- chart and image from a registry --------------------------------------------------------


def test_the_registry_serves_the_image_and_its_version_tag(
    image: Image, published: Published
) -> None:
    digest = run([str(CRANE), "digest", f"{published.image}:{berth.__version__}"]).strip()
    assert digest == image.summary["digest"]
    assert run([str(CRANE), "digest", f"{published.image}:{image.tag}"]).strip() == digest
    assert published.chart_digest_ref.startswith(
        f"{published.image.rsplit('/', 1)[0]}/charts/berth@sha256:"
    )


def test_helm_installs_from_oci_and_the_pod_names_the_published_image(
    cluster: ClusterAccess, api: ApiClient, image: Image, published: Published, release: Release
) -> None:
    (container,) = release.pod["spec"]["containers"]
    # No image value was set: the packaged chart's defaults name the image pushed with it.
    assert container["image"] == f"{published.image}:{berth.__version__}"
    assert release.pod["spec"]["securityContext"]["runAsUser"] == UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    node = k8s.CoreV1Api(api).read_node(release.pod["spec"]["nodeName"])
    assert (node.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"
    # What a node would pull is the image built here.
    config = json.loads(run([str(CRANE), "config", container["image"]]))
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == berth.__version__
    assert config["config"]["User"] == f"{UID}:{UID}"
    assert (
        release.deployment["metadata"]["labels"]["app.kubernetes.io/version"] == berth.__version__
    )


# -- the image's operator, with the chart's ServiceAccount ---------------------------------------


def test_the_operator_runs_from_the_image_as_its_user(
    image: Image, image_operator: OperatorProcess
) -> None:
    proc = Path(f"/proc/{image_operator.process.pid}")
    uids = next(x for x in (proc / "status").read_text().splitlines() if x.startswith("Uid:"))
    assert uids.split()[1:] == [str(UID)] * 4
    # Its root is the image's filesystem, its program the image's entrypoint, run by the
    # image's own Python (the script's #! line).
    assert Path(os.readlink(proc / "root")) == (image.bundle / "rootfs").resolve()
    cmdline = (proc / "cmdline").read_bytes().decode().split("\0")
    assert cmdline[:3] == ["/opt/berth/bin/python3", "/opt/berth/bin/berth", "run"], cmdline
    # The root filesystem is read-only for it; /tmp is its only scratch space. (Its mount
    # table is seen from its root: the image's filesystem is "/".)
    mounts = {m.split()[1]: m.split() for m in (proc / "mounts").read_text().splitlines()}
    assert "ro" in mounts["/"][3].split(","), mounts["/"]
    assert mounts["/tmp"][2] == "tmpfs"
    assert "rw" in mounts["/tmp"][3].split(",")


def test_the_quick_start_workloads_become_ready(
    cluster: ClusterAccess,
    api: ApiClient,
    image_operator: OperatorProcess,
    quick_start: str,
    release: Release,
) -> None:
    for workload in QUICK_START:
        cluster.kubectl(
            "wait",
            "--for=condition=Ready",
            f"workload/{workload}",
            "-n",
            quick_start,
            "--timeout=180s",
            timeout=200,
        )
    berth_client = Berth(api)
    for workload in QUICK_START:
        status = berth_client.workload(quick_start, workload)["status"]
        assert status["observedGeneration"] == 1
        assert get_json(cluster, "deployment", workload, "-n", quick_start) is not None
    # This operator (started in this module) reconciled Workloads and Environments and,
    # in all that time, was refused nothing (see the RBAC test for why that is the claim).
    for kind in ("workload", "environment"):
        assert image_operator.metric("berth_reconciles_total", kind=kind, result="success") > 0
    assert image_operator.process.poll() is None, image_operator.log_tail()
    assert not refusals(image_operator.log_path.read_text(), {release.name, quick_start})
