"""Argo CD as the client: a real application controller and repo server (built from
Argo CD's Go module, run by hack/argocd.sh) sync an Environment and the quick-start
Workloads from a local git repository, and judge their health with the chart's Lua.

The tests share one Application and run in file order; each leaves it Synced and
Healthy at the newest commit. Sync operations are counted by the Application's
`status.history` (one entry per sync that ran) and `status.operationState`.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.api import Environment, Workload
from berth.render.policy import policy_findings
from tests.argocdharness import (
    WAVE_ANNOTATION,
    ArgoCDUnavailable,
    GitRepo,
    LocalArgoCD,
    application_for,
    start_argocd,
    stop_argocd,
)
from tests.clusterharness import REPO_ROOT, TEST_CLUSTER_DIR, ClusterAccess
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, stays, wait_for

# Seconds between the controller's refreshes of every Application (`--app-resync`,
# `timeout.reconciliation`); the repo server re-reads the branch as often.
RESYNC_SECONDS = 5
# Long enough for a refresh to notice a commit, a sync to run and Berth to reconcile,
# on a small shared machine.
SYNC_TIMEOUT = 120
CLAIMS = ("platform.acme.dev", "v1alpha1", "postgresqlinstances")
HEALTH_SCRIPTS = {
    "Workload": REPO_ROOT / "charts/berth/argocd/workload-health.lua",
    "Environment": REPO_ROOT / "charts/berth/argocd/environment-health.lua",
    "Preview": REPO_ROOT / "charts/berth/argocd/preview-health.lua",
}


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "examples" / name).read_text())  # type: ignore[no-any-return]


@dataclass
class GitOps:
    """The Application under test, its repository, and what the repository holds."""

    argocd: LocalArgoCD
    repo: GitRepo
    app: str
    environment: str
    namespace: str
    files: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    revision: str = ""
    commits: int = 0
    # Syncs that failed (the API server refused an object): an OperationStarted Event
    # each, and no history entry.
    failed_syncs: int = 0

    def application(self) -> dict[str, Any]:
        return self.argocd.application(self.app)

    def push(self, message: str) -> str:
        """Write every file (a None removes it), commit, and return the revision."""
        for relpath, manifest in list(self.files.items()):
            if manifest is None:
                self.repo.remove(relpath)
                del self.files[relpath]
            else:
                self.repo.write(relpath, manifest)
        self.revision = self.repo.commit(message)
        self.commits += 1
        return self.revision

    def history(self) -> int:
        return len(self.application().get("status", {}).get("history") or [])

    def syncs(self) -> int:
        """How many sync operations have run: one history entry each, and as many
        OperationStarted Events (a failed sync leaves no history entry, only an Event;
        Events are posted asynchronously, so they get a moment to catch up)."""

        def agreed() -> tuple[int, int] | None:  # a tuple: truthy even for (0, 0)
            history = self.history() + self.failed_syncs
            events = self.argocd.operations_started(self.app)
            return (history, events) if history == events else None

        return wait_for(agreed, 15, "as many OperationStarted Events as history entries", 0.5)[0]

    def wait_synced_healthy(self, revision: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            app = self.application()
            status = app.get("status") or {}
            operation = status.get("operationState") or {}
            if (
                status.get("sync", {}).get("status") == "Synced"
                and status.get("sync", {}).get("revision") == revision
                and status.get("health", {}).get("status") == "Healthy"
                and operation.get("phase") == "Succeeded"
                and operation.get("syncResult", {}).get("revision") == revision
            ):
                return app
            return None

        try:
            return wait_for(
                done, SYNC_TIMEOUT, f"{self.app} Synced and Healthy at {revision[:8]}", 1
            )
        except AssertionError as err:
            raise AssertionError(f"{err}\n{summary(self.application())}") from None


def summary(app: dict[str, Any]) -> str:
    status = app.get("status") or {}
    lines = [
        f"sync={status.get('sync')} health={status.get('health')}",
        f"operationState={status.get('operationState', {}).get('phase')}: "
        f"{status.get('operationState', {}).get('message')}",
        f"conditions={status.get('conditions')}",
    ]
    lines += [
        f"  {r.get('kind')} {r.get('namespace', '')}/{r.get('name')}: {r.get('status')} "
        f"{r.get('health')}"
        for r in status.get("resources") or []
    ]
    return "\n".join(lines)


def resource_health(app: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for resource in app.get("status", {}).get("resources") or []:
        if resource["kind"] == kind and resource["name"] == name:
            return resource.get("health") or {}
    raise AssertionError(f"the Application lists no {kind} {name}:\n{summary(app)}")


def timestamp(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def argocd(
    cluster: ClusterAccess, api: ApiClient, operator: OperatorProcess
) -> Iterator[LocalArgoCD]:
    """Argo CD against the test cluster, for this module; stopped by pid at its end."""
    # Under the test cluster's directory even with BERTH_TEST_KUBECONFIG: never beside
    # someone's own kubeconfig.
    state_dir = TEST_CLUSTER_DIR / "argocd"
    try:
        running = start_argocd(api, cluster.kubeconfig, state_dir, RESYNC_SECONDS)
    except ArgoCDUnavailable as err:
        stop_argocd(cluster.kubeconfig, state_dir)
        pytest.fail(str(err), pytrace=False)
    yield running
    logs = TEST_CLUSTER_DIR / "argocd-logs"
    running.keep_logs(logs)
    print(f"\nArgo CD's logs: {logs}")
    stop_argocd(cluster.kubeconfig, state_dir)


@pytest.fixture(scope="module")
def module_composer(cluster: ClusterAccess, api: ApiClient) -> Iterator[TestOnlyComposer]:
    """Crossplane's part for the example claims (their CRDs, and a test-only composer)."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "examples/claim-crds")
    )
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/postgresqlinstances.platform.acme.dev"
    )
    running = TestOnlyComposer(api, EXAMPLE_KINDS)
    running.start()
    yield running
    running.stop()
    assert not running.errors, running.errors


@pytest.fixture(scope="module")
def gitops(
    argocd: LocalArgoCD,
    api: ApiClient,
    module_composer: TestOnlyComposer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GitOps]:
    """The quick start in git (examples/environment.yaml, hello.yaml, checkout.yaml, and
    shop.yaml for a claim), under a namespace of this run's own, synced by the manual's
    Application; deleted at the end."""
    suffix = uuid.uuid4().hex[:5]
    env_name = namespace = f"argocd-e2e-{suffix}"
    environment = example("environment.yaml")
    environment["metadata"]["name"] = env_name
    environment["metadata"]["annotations"] = {WAVE_ANNOTATION: "-1"}
    environment["spec"]["namespace"] = namespace
    files: dict[str, dict[str, Any] | None] = {"deploy/environment.yaml": environment}
    for name in ("hello", "checkout", "shop"):
        workload = example(f"{name}.yaml")
        workload["metadata"]["namespace"] = namespace
        files[f"deploy/{name}.yaml"] = workload

    repo = GitRepo(Path(tmp_path_factory.mktemp("argocd")) / "repo")
    state = GitOps(argocd, repo, f"berth-{suffix}", env_name, namespace, files)
    state.push("The quick start: an Environment and its Workloads")
    argocd.create_application(application_for(state.app, repo.url, namespace))
    yield state

    print(
        f"\n{state.app}: {state.commits} commits, {state.history()} syncs in history, "
        f"{argocd.operations_started(state.app)} OperationStarted Events"
    )
    argocd.delete_application(state.app)
    custom = k8s.CustomObjectsApi(api)
    try:  # deletionPolicy Delete (a development Environment's): takes its Workloads along
        custom.delete_cluster_custom_object("berth.dev", "v1alpha1", "environments", env_name)
    except ApiException as err:
        if err.status != 404:
            raise

    def env_gone() -> bool:
        try:
            custom.get_cluster_custom_object("berth.dev", "v1alpha1", "environments", env_name)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(env_gone, 60, f"Environment {env_name} to be deleted")
    # Berth never deletes a namespace (and the Retain test leaves a claim in it).
    k8s.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")


def claims(api: ApiClient, namespace: str, workload: str | None = None) -> list[dict[str, Any]]:
    """The example postgres claims in a namespace (only one Workload's, if named)."""
    selector = f"berth.dev/workload={workload}" if workload else ""
    found = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        *CLAIMS[:2], namespace, CLAIMS[2], label_selector=selector
    )
    return found["items"]  # type: ignore[no-any-return]


# -- tests -------------------------------------------------------------------------------


def test_the_quick_start_syncs_to_synced_and_healthy(gitops: GitOps, berth: Berth) -> None:
    app = gitops.wait_synced_healthy(gitops.revision)
    assert "ignoreDifferences" not in app["spec"]
    # One sync, for the one commit.
    assert gitops.syncs() == 1, summary(app)
    for name in ("hello", "checkout", "shop"):
        ready = berth.wait_condition(gitops.namespace, name, "Ready", "True")
        # The message Argo CD shows is the one Berth wrote: our Lua ran, not a default.
        assert resource_health(app, "Workload", name) == {
            "status": "Healthy",
            "message": ready["message"],
        }
    assert resource_health(app, "Environment", gitops.environment)["status"] == "Healthy"
    for resource in app["status"]["resources"]:
        assert resource["status"] == "Synced", summary(app)


def test_argocd_runs_the_charts_lua_byte_for_byte(gitops: GitOps) -> None:
    data = gitops.argocd.config_map("argocd-cm")
    for kind, path in HEALTH_SCRIPTS.items():
        key = f"resource.customizations.health.berth.dev_{kind}"
        assert data[key].encode() == path.read_bytes(), f"{key} in argocd-cm differs from {path}"


def test_the_sync_wave_puts_the_environment_before_its_workloads(
    gitops: GitOps, berth: Berth
) -> None:
    gitops.wait_synced_healthy(gitops.revision)
    env = berth.environment(gitops.environment)
    [env_ready] = [c for c in env["status"]["conditions"] if c["type"] == "Ready"]
    created = timestamp(env["metadata"]["creationTimestamp"])
    for name in ("hello", "checkout", "shop"):
        workload_created = timestamp(
            berth.workload(gitops.namespace, name)["metadata"]["creationTimestamp"]
        )
        # Wave 0 starts only once wave -1 is Healthy (our Lua: Ready=True), and Argo CD
        # waits 2s between waves; without the annotation all are applied at once.
        assert workload_created >= timestamp(env_ready["lastTransitionTime"])
        assert workload_created >= created + datetime.timedelta(seconds=2)


def test_status_writes_and_resyncs_start_no_sync(
    gitops: GitOps, berth: Berth, api: ApiClient
) -> None:
    app = gitops.wait_synced_healthy(gitops.revision)
    syncs = gitops.syncs()
    started = app["status"]["operationState"]["startedAt"]
    before = berth.workload(gitops.namespace, "checkout")

    # Make Berth write a status: a Pod of checkout goes, its replacement comes up.
    core = k8s.CoreV1Api(api)
    pods = core.list_namespaced_pod(gitops.namespace, label_selector="berth.dev/workload=checkout")
    assert pods.items, "checkout has no Pods"
    core.delete_namespaced_pod(
        pods.items[0].metadata.name, gitops.namespace, grace_period_seconds=0
    )

    refreshes: set[str] = set()
    seen_status_write = False

    def three_refreshes_later() -> bool:
        nonlocal seen_status_write
        current = gitops.application()["status"]
        assert current["sync"]["status"] == "Synced", summary(gitops.application())
        assert current["operationState"]["startedAt"] == started
        refreshes.add(current["reconciledAt"])
        live = berth.workload(gitops.namespace, "checkout")
        if live["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]:
            assert live["metadata"]["generation"] == before["metadata"]["generation"]
            seen_status_write = True
        return seen_status_write and len(refreshes) > 3

    wait_for(three_refreshes_later, 20 * RESYNC_SECONDS, "a status write and 3 refreshes", 1)
    assert gitops.syncs() == syncs
    berth.wait_condition(gitops.namespace, "checkout", "Ready", "True")
    gitops.wait_synced_healthy(gitops.revision)
    assert gitops.syncs() == syncs
    print(f"\nsync operations: {syncs} after {len(refreshes)} refreshes and a status write")


def test_a_commit_that_breaks_the_policy_is_refused_at_sync_and_nothing_changes(
    gitops: GitOps, berth: Berth
) -> None:
    """Issue 18: the API server refuses the bad commit's Workload at sync, in Berth's
    words (the ones its Stalled status would use); the Application says so, and nothing
    in the cluster moves."""
    gitops.wait_synced_healthy(gitops.revision)
    syncs = gitops.syncs()
    good = copy.deepcopy(gitops.files["deploy/hello.yaml"])
    assert good is not None
    bad = copy.deepcopy(good)
    bad["spec"]["containers"]["main"]["image"] = "elsewhere.dev/hello:1.0.0"
    [finding] = policy_findings(
        Workload.model_validate(bad),
        Environment.model_validate(berth.environment(gitops.environment)),
    )
    assert finding.reason == "ImageNotAllowed"
    words = (
        "ValidatingAdmissionPolicy 'berth-policy-deny' with binding "
        f"'berth-policy-deny.{gitops.environment}' denied request: {finding.message}"
    )
    live = berth.workload(gitops.namespace, "hello")
    deployment = berth.apps.read_namespaced_deployment("hello", gitops.namespace)

    gitops.files["deploy/hello.yaml"] = bad
    bad_revision = gitops.push("hello: an image from outside the allowed registries")

    def refused() -> dict[str, Any] | None:
        """The sync of the bad revision, refused (Argo CD retries it, then gives up)."""
        app = gitops.application()
        operation = app.get("status", {}).get("operationState") or {}
        if operation.get("operation", {}).get("sync", {}).get(
            "revision"
        ) == bad_revision and words in (operation.get("message") or ""):
            return app
        return None

    try:
        app = wait_for(refused, SYNC_TIMEOUT, f"the sync of {bad_revision[:8]} refused", 1)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{summary(gitops.application())}") from None
    operation = app["status"]["operationState"]
    assert operation["phase"] in ("Running", "Failed"), summary(app)  # Running: retrying
    [result] = [
        r for r in operation.get("syncResult", {}).get("resources") or [] if r["name"] == "hello"
    ]
    assert result["status"] == "SyncFailed", result
    assert result["message"].endswith(words), result
    assert app["status"]["sync"]["status"] == "OutOfSync", summary(app)

    # Nothing in the cluster changed: the Workload and its Deployment are as they were.
    def unchanged() -> bool:
        return (
            berth.workload(gitops.namespace, "hello")["metadata"]["resourceVersion"]
            == live["metadata"]["resourceVersion"]
            and berth.apps.read_namespaced_deployment(
                "hello", gitops.namespace
            ).metadata.resource_version
            == deployment.metadata.resource_version
        )

    stays(unchanged, 3 * RESYNC_SECONDS, "the Workload hello and its Deployment unchanged")
    assert resource_health(gitops.application(), "Workload", "hello")["status"] == "Healthy"
    # Argo CD 3 retries a failed automated sync 5 times, backing off for minutes, before
    # it takes a newer commit; every attempt is refused alike. Stop them, as someone
    # fixing it would (`argocd app terminate-op`), rather than wait.
    operation = gitops.application()["status"]["operationState"]
    if operation["phase"] == "Running":
        gitops.argocd.terminate_operation(gitops.app)
    wait_for(
        lambda: (
            (gitops.application()["status"].get("operationState") or {}).get("phase")
            in ("Failed", "Error")
        ),
        SYNC_TIMEOUT,
        "the refused sync to end",
        1,
    )
    assert unchanged()
    gitops.failed_syncs += 1

    # The fix: a new image from an allowed registry (a revision that differs from what
    # runs, so that Argo CD syncs it).
    fixed = copy.deepcopy(good)
    image = fixed["spec"]["containers"]["main"]["image"]
    fixed["spec"]["containers"]["main"]["image"] = image.rsplit(":", 1)[0] + ":1.0.1"
    gitops.files["deploy/hello.yaml"] = fixed
    fixed_revision = gitops.push("hello: a new image, from an allowed registry")
    gitops.wait_synced_healthy(fixed_revision)
    berth.wait_condition(gitops.namespace, "hello", "Ready", "True")
    # One sync per commit: the refused one and the fix.
    assert gitops.syncs() == syncs + 2, summary(gitops.application())


BAD_CHANGES = {
    "unknown-placeholder": (
        "checkout",
        lambda spec: spec["containers"]["main"]["variables"].update(DB="${resources.nope.host}"),
        "UnknownResource",
        "nope",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CHANGES))
def test_a_bad_commit_is_degraded_with_berths_message_and_the_old_deployment_runs_on(
    gitops: GitOps, berth: Berth, case: str
) -> None:
    workload, change, reason, fragment = BAD_CHANGES[case]
    gitops.wait_synced_healthy(gitops.revision)
    syncs = gitops.syncs()
    good = copy.deepcopy(gitops.files[f"deploy/{workload}.yaml"])
    deployment = berth.apps.read_namespaced_deployment(workload, gitops.namespace)

    bad = copy.deepcopy(good)
    change(bad["spec"])
    gitops.files[f"deploy/{workload}.yaml"] = bad
    bad_revision = gitops.push(f"{workload}: {case}")

    stalled = berth.wait_condition(
        gitops.namespace, workload, "Stalled", "True", timeout=SYNC_TIMEOUT, reason=reason
    )
    assert fragment in stalled["message"]

    def degraded() -> dict[str, Any] | None:
        app = gitops.application()
        status = app["status"]
        if (
            status["sync"]["status"] == "Synced"
            and status["sync"]["revision"] == bad_revision
            and status["health"]["status"] == "Degraded"
            and resource_health(app, "Workload", workload).get("status") == "Degraded"
        ):
            return app
        return None

    app = wait_for(degraded, SYNC_TIMEOUT, f"{gitops.app} Degraded at {bad_revision[:8]}", 1)
    assert resource_health(app, "Workload", workload)["message"] == stalled["message"]

    # What ran before the bad commit runs on, untouched.
    now = berth.apps.read_namespaced_deployment(workload, gitops.namespace)
    assert now.metadata.uid == deployment.metadata.uid
    assert now.metadata.resource_version == deployment.metadata.resource_version
    assert now.status.available_replicas == deployment.spec.replicas

    gitops.files[f"deploy/{workload}.yaml"] = good
    fixed_revision = gitops.push(f"{workload}: fixed")
    gitops.wait_synced_healthy(fixed_revision)
    berth.wait_condition(gitops.namespace, workload, "Ready", "True")
    # One sync per commit: the bad one and the fix, nothing in between.
    assert gitops.syncs() == syncs + 2, summary(gitops.application())


def workload_gone(berth: Berth, namespace: str, name: str) -> bool:
    try:
        berth.workload(namespace, name)
    except ApiException as err:
        return err.status == 404
    return False


def test_a_workload_pruned_from_git_is_deleted_and_its_claim_follows_the_deletion_policy(
    gitops: GitOps, berth: Berth, api: ApiClient
) -> None:
    gitops.wait_synced_healthy(gitops.revision)
    syncs = gitops.syncs()
    [claim] = claims(api, gitops.namespace, "shop")
    assert berth.workload(gitops.namespace, "shop")["metadata"]["finalizers"] == [
        "berth.dev/cleanup"
    ]
    # examples/environment.yaml is a development Environment: deletionPolicy Delete.
    environment = gitops.files["deploy/environment.yaml"]
    assert environment is not None
    assert "deletionPolicy" not in environment["spec"]

    gitops.files["deploy/shop.yaml"] = None
    revision = gitops.push("shop: removed")
    wait_for(
        lambda: workload_gone(berth, gitops.namespace, "shop"),
        SYNC_TIMEOUT,
        "Argo CD to prune the Workload shop",
        1,
    )
    wait_for(
        lambda: not claims(api, gitops.namespace, "shop"),
        30,
        f"claim {claim['metadata']['name']} to be deleted",
    )
    app = gitops.wait_synced_healthy(revision)
    assert all(r["name"] != "shop" for r in app["status"]["resources"])
    assert gitops.syncs() == syncs + 1, summary(app)
    # The other Workloads are untouched.
    for name in ("hello", "checkout"):
        berth.wait_condition(gitops.namespace, name, "Ready", "True")


def test_under_retain_a_workload_pruned_from_git_leaves_its_claim(
    gitops: GitOps, berth: Berth, api: ApiClient
) -> None:
    gitops.wait_synced_healthy(gitops.revision)
    syncs = gitops.syncs()
    example_env = copy.deepcopy(gitops.files["deploy/environment.yaml"])
    assert example_env is not None
    retaining = copy.deepcopy(example_env)
    retaining["spec"]["deletionPolicy"] = "Retain"
    ledger = example("shop.yaml")  # with its database only
    ledger["metadata"].update(name="ledger", namespace=gitops.namespace)
    ledger["spec"]["resources"].pop("cache")
    ledger["spec"]["containers"]["main"]["variables"].pop("REDIS_ADDR")
    gitops.files["deploy/environment.yaml"] = retaining
    gitops.files["deploy/ledger.yaml"] = ledger
    gitops.wait_synced_healthy(gitops.push("ledger, in an Environment that retains"))
    berth.wait_condition(gitops.namespace, "ledger", "Ready", "True")
    [claim] = claims(api, gitops.namespace, "ledger")

    gitops.files["deploy/ledger.yaml"] = None
    revision = gitops.push("ledger: removed")
    wait_for(
        lambda: workload_gone(berth, gitops.namespace, "ledger"),
        SYNC_TIMEOUT,
        "Argo CD to prune the Workload ledger",
        1,
    )
    gitops.wait_synced_healthy(revision)
    stays(
        lambda: (
            [c["metadata"]["uid"] for c in claims(api, gitops.namespace, "ledger")]
            == [claim["metadata"]["uid"]]
        ),
        3,
        "the retained claim",
    )
    [kept] = claims(api, gitops.namespace, "ledger")
    assert kept["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "berth"

    gitops.files["deploy/environment.yaml"] = example_env
    gitops.wait_synced_healthy(gitops.push("environment: back to the example's policy"))
    assert gitops.syncs() == syncs + 3
    # Over the whole module: exactly one sync per commit.
    assert gitops.syncs() == gitops.commits
