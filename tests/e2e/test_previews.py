"""Preview environments on the real API server (issue 19), with the test-only composer
playing Crossplane: a base with three Workloads and a claim, its previews inheriting it
live, copies replaced and restored with the real kubectl both ways, the TTL and the keep
annotation, and the teardown order proven from the API server's own record."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from tests.clusterharness import BIN_DIR, REPO_ROOT, ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, settles, stays, wait_for
from tests.previewkit import (
    CLAIM_GROUP,
    CLAIM_PLURAL,
    CLAIM_VERSION,
    GROUP,
    VERSION,
    Previews,
    Recorder,
    app_workload,
    base_environment,
    preview_body,
)

APP = ("cart", "checkout", "web")


@pytest.fixture
def previews(api: ApiClient, berth: Berth) -> Previews:
    return Previews(api, berth)


@pytest.fixture(scope="session")
def preview_admission(cluster: ClusterAccess, crds: None) -> None:
    """The chart's ValidatingAdmissionPolicy of Previews, as the chart installs it."""
    rendered = subprocess.run(
        [
            str(BIN_DIR / "helm"),
            "template",
            "berth",
            str(REPO_ROOT / "charts" / "berth"),
            "--show-only",
            "templates/preview-admission.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = cluster.kubeconfig.parent / "preview-admission.yaml"
    path.write_text(rendered)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))


@pytest.fixture
def base(
    berth: Berth,
    previews: Previews,
    namespace: str,
    operator: OperatorProcess,
    composer: TestOnlyComposer,
    preview_admission: None,
) -> Iterator[str]:
    """A base Environment serving this test's namespace, with the app: three Workloads,
    checkout with a claim-backed postgres."""
    berth.create_environment(base_environment(namespace, namespace, maxCount=3, maxTTL="2h"))
    for name in APP:
        berth.create_workload(namespace, app_workload(name, db=name == "checkout"))
    for name in APP:
        berth.wait_condition(namespace, name, "Ready", "True", timeout=90)
    yield namespace
    previews.remove_all(namespace)
    berth.delete_environment(namespace)
    # Gone while the composer still lets its claims go.
    wait_for(lambda: previews.environment(namespace) is None, 120, f"Environment {namespace} gone")


def apply(cluster: ClusterAccess, tmp_path: Path, manifest: dict[str, Any], *flags: str) -> str:
    path = tmp_path / f"{manifest['metadata']['name']}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return cluster.kubectl("apply", *flags, "-f", str(path))


def workloads_of(berth: Berth, namespace: str) -> dict[str, dict[str, Any]]:
    items = berth.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "workloads")[
        "items"
    ]
    return {w["metadata"]["name"]: w for w in items}


def source_column(cluster: ClusterAccess, namespace: str) -> dict[str, str]:
    """What `kubectl get wl` shows under SOURCE, by Workload."""
    out = cluster.kubectl("get", "wl", "-n", namespace, "-o", "custom-columns=NAME:.metadata.name")
    table = cluster.kubectl("get", "wl", "-n", namespace)
    lines = table.splitlines()
    header = lines[0]
    start = header.index("SOURCE")
    end = header.index("READY")
    assert out  # the names are there
    return {line.split()[0]: line[start:end].strip() for line in lines[1:]}


def test_a_preview_runs_the_whole_app_with_its_own_claim_and_follows_its_base(
    cluster: ClusterAccess,
    berth: Berth,
    previews: Previews,
    base: str,
    tmp_path: Path,
) -> None:
    base_claims = {c["metadata"]["uid"] for c in previews.claims(base)}
    assert len(base_claims) == 1
    previews.create(base, preview_body("pr-1", ttl="1h"))
    preview = previews.wait_ready(base, "pr-1")
    target = preview["status"]["namespace"]
    assert target == f"{base}-pr-1"
    assert preview["status"]["environment"] == target

    # The preview's own checkout, applied as CI would: it replaces the copy.
    own = app_workload("checkout", image="registry.acme.dev/app:2.0-pr1", db=True)
    own["metadata"]["namespace"] = target
    apply(cluster, tmp_path, own)
    wait_for(
        lambda: source_column(cluster, target) == {"cart": base, "checkout": "", "web": base},
        60,
        "two copies and one own Workload in the preview",
    )
    for name in APP:
        berth.wait_condition(target, name, "Ready", "True", timeout=90)
    assert berth.rolled_out(target, "checkout", "registry.acme.dev/app:2.0-pr1")

    # Its own claim, from the preview's (inherited) provisioners; the base's untouched.
    [claim] = previews.claims(target)
    assert claim["metadata"]["uid"] not in base_claims
    assert {c["metadata"]["uid"] for c in previews.claims(base)} == base_claims
    env = previews.environment(target)
    assert env is not None
    assert env["status"]["preview"]["base"] == base
    assert env["status"]["preview"]["copies"] == ["cart", "web"]
    assert env["status"]["preview"]["own"] == ["checkout"]
    generation = berth.environment(base)["metadata"]["generation"]
    assert env["status"]["preview"]["baseGeneration"] == generation

    # An edit to the base reaches the preview within seconds...
    berth.patch_workload(
        base, "web", {"spec": {"containers": {"main": {"image": "registry.acme.dev/app:1.1"}}}}
    )
    wait_for(
        lambda: berth.rolled_out(target, "web", "registry.acme.dev/app:1.1"),
        60,
        "the base's edit in the preview",
    )
    # ...and so does a change to the base Environment (its defaults: inherited live).
    berth.patch_environment(base, {"spec": {"defaults": {"replicas": 2}}})
    wait_for(
        lambda: berth.apps.read_namespaced_deployment("cart", target).spec.replicas == 2,
        60,
        "the base's new default replicas in the preview",
    )
    wait_for(
        lambda: (
            (previews.environment(target) or {})["status"]["preview"]["baseGeneration"]
            == generation + 1
        ),
        30,
        "the preview following the base's new generation",
    )
    # An edit to the preview does not reach the base.
    berth.patch_workload(
        target,
        "checkout",
        {"spec": {"containers": {"main": {"image": "registry.acme.dev/app:2.1-pr1"}}}},
    )
    wait_for(
        lambda: berth.rolled_out(target, "checkout", "registry.acme.dev/app:2.1-pr1"),
        60,
        "the preview's edit",
    )
    assert berth.rolled_out(base, "checkout", "registry.acme.dev/app:1.0")
    assert (
        berth.workload(base, "checkout")["spec"]["containers"]["main"]["image"]
        == "registry.acme.dev/app:1.0"
    )


def copy_spec(berth: Berth, namespace: str, name: str) -> dict[str, Any]:
    return berth.workload(namespace, name)["spec"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["client-side", "server-side"])
def test_a_workload_applied_with_kubectl_replaces_the_copy_cleanly_and_its_deletion_restores_it(
    cluster: ClusterAccess,
    berth: Berth,
    previews: Previews,
    base: str,
    tmp_path: Path,
    mode: str,
) -> None:
    # The base's web has a variable the preview's own web will not have.
    berth.patch_workload(
        base, "web", {"spec": {"containers": {"main": {"variables": {"ONLY_IN_BASE": "x"}}}}}
    )
    previews.create(base, preview_body("pr-2", copyWorkloads=["web"]))
    target = previews.wait_ready(base, "pr-2")["status"]["namespace"]
    wait_for(
        lambda: (
            copy_spec(berth, target, "web")["containers"]["main"]["variables"].get("ONLY_IN_BASE")
            == "x"
        ),
        60,
        "the copy following the base",
    )
    assert set(workloads_of(berth, target)) == {"web"}  # copyWorkloads: web only

    own = app_workload("web", image="registry.acme.dev/app:9-pr2")
    own["metadata"]["namespace"] = target
    flags = ("--server-side", "--force-conflicts") if mode == "server-side" else ()
    apply(cluster, tmp_path, own, *flags)

    def replaced() -> bool:
        body = berth.workload(target, "web")
        labels = body["metadata"].get("labels") or {}
        return body["spec"] == own["spec"] and "berth.dev/copy-of" not in labels

    # Exactly the developer's spec: nothing of the base's left mixed in...
    wait_for(replaced, 60, f"the copy replaced by a {mode} apply")
    # ...and it stays that way: Berth does not write it again, not even when the base changes.
    berth.patch_workload(
        base, "web", {"spec": {"containers": {"main": {"image": "registry.acme.dev/app:1.2"}}}}
    )
    stays(replaced, 5, "the preview's own web")
    fields = berth.workload(target, "web")["metadata"]["managedFields"]
    assert "berth-preview" not in {f["manager"] for f in fields}
    env = previews.environment(target)
    assert env is not None
    assert env["status"]["preview"]["own"] == ["web"]
    # Applying the same again changes nothing.
    version = berth.workload(target, "web")["metadata"]["resourceVersion"]
    apply(cluster, tmp_path, own, *flags)
    assert berth.workload(target, "web")["metadata"]["resourceVersion"] == version

    berth.delete_workload(target, "web")

    def restored() -> bool:
        try:
            body = berth.workload(target, "web")
        except k8s.ApiException:
            return False
        labels = body["metadata"].get("labels") or {}
        return (
            labels.get("berth.dev/copy-of") == base
            and body["spec"]["containers"]["main"]["image"] == "registry.acme.dev/app:1.2"
        )

    wait_for(restored, 60, "the copy back once the preview's own web went")


def test_expiry_tears_down_in_order_as_the_api_server_recorded_it(
    api: ApiClient,
    berth: Berth,
    previews: Previews,
    base: str,
) -> None:
    base_claim = previews.claims(base)[0]
    previews.create(base, preview_body("pr-3", ttl="45s"))
    target = previews.wait_ready(base, "pr-3")["status"]["namespace"]
    for name in APP:
        berth.wait_condition(target, name, "Ready", "True", timeout=90)
    [claim] = previews.claims(target)
    assert claim["metadata"]["finalizers"] == ["composer.berth.dev/claim"]

    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    recorder = Recorder(api)
    recorder.watch(
        "Workload", custom.list_namespaced_custom_object, GROUP, VERSION, target, "workloads"
    )
    recorder.watch(
        "Claim",
        custom.list_namespaced_custom_object,
        CLAIM_GROUP,
        CLAIM_VERSION,
        target,
        CLAIM_PLURAL,
    )
    recorder.watch("Namespace", core.list_namespace, field_selector=f"metadata.name={target}")
    recorder.watch(
        "Environment",
        custom.list_cluster_custom_object,
        GROUP,
        VERSION,
        "environments",
        field_selector=f"metadata.name={target}",
    )
    recorder.watch(
        "Preview",
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        base,
        "previews",
        field_selector="metadata.name=pr-3",
    )
    try:
        previews.wait_gone(base, "pr-3", timeout=180)
        wait_for(
            lambda: recorder.last_deleted("Environment") is not None,
            30,
            "the Environment's DELETED event",
        )
    finally:
        recorder.stop()

    workloads_start = recorder.first_deleting("Workload")
    workloads_gone = [recorder.last_deleted("Workload")]
    claim_start = recorder.first_deleting("Claim")
    claim_gone = recorder.last_deleted("Claim")
    namespace_start = recorder.first_deleting("Namespace")
    namespace_gone = recorder.last_deleted("Namespace")
    environment_gone = recorder.last_deleted("Environment")
    preview_gone = recorder.last_deleted("Preview")
    order = [
        workloads_start,
        claim_start,
        claim_gone,
        namespace_start,
        namespace_gone,
        environment_gone,
        preview_gone,
    ]
    assert all(s is not None for s in order), recorder.events()
    revisions = [s.revision for s in order if s is not None]
    # Workloads first; then their claim, waited for until gone; only then the namespace;
    # the Environment last, and with it its Preview.
    assert revisions == sorted(revisions), recorder.events()
    assert all(w is not None and w.revision < namespace_start.revision for w in workloads_gone)  # type: ignore[union-attr]
    # The claim was deleting for a while (its finalizer) and the namespace waited.
    assert claim_start is not None
    assert claim_gone is not None
    assert claim_gone.at - claim_start.at >= 0.5
    # Nothing of the base went.
    assert previews.claims(base)[0]["metadata"]["uid"] == base_claim["metadata"]["uid"]
    assert not previews.claims(base)[0]["metadata"].get("deletionTimestamp")
    for name in APP:
        assert berth.condition(base, name, "Ready")["status"] == "True"  # type: ignore[index]
    assert not previews.namespace_exists(target)


def test_the_keep_annotation_holds_and_a_claim_that_will_not_go_is_named(
    berth: Berth,
    previews: Previews,
    base: str,
) -> None:
    body = preview_body("pr-4", ttl="20s")
    body["metadata"]["annotations"] = {"berth.dev/keep": "true"}
    previews.create(base, body)
    target = previews.wait_ready(base, "pr-4")["status"]["namespace"]
    env = previews.environment(target)
    assert env is not None
    assert env["status"]["preview"]["kept"] is True
    assert "expiresAt" not in env["status"]["preview"]
    stays(lambda: previews.get(base, "pr-4") is not None, 30, "the kept preview")  # past its ttl

    # A claim that will not go (a finalizer no one removes): the namespace waits for it,
    # and the status says which and why.
    berth.wait_condition(target, "checkout", "Ready", "True", timeout=90)
    [claim] = previews.claims(target)
    claim_name = claim["metadata"]["name"]
    hold = [*claim["metadata"]["finalizers"], "test.berth.dev/hold"]
    previews.custom.patch_namespaced_custom_object(
        CLAIM_GROUP,
        CLAIM_VERSION,
        target,
        CLAIM_PLURAL,
        claim_name,
        {"metadata": {"finalizers": hold}},
    )
    previews.delete(base, "pr-4")
    expected = [f"PostgreSQLInstance/{claim_name}; waits on finalizers test.berth.dev/hold"]

    def waiting() -> bool:
        teardown = ((previews.environment(target) or {}).get("status") or {}).get("teardown") or {}
        return teardown.get("phase") == "Resources" and teardown.get("waitingFor") == expected

    wait_for(waiting, 60, "the teardown naming the claim it waits for")
    # The Preview, which `kubectl delete` waits for, says so too.
    wait_for(
        lambda: (previews.condition(previews.get(base, "pr-4")) or ("", ""))[1] == "TearingDown",
        30,
        "the Preview saying its preview is being torn down",
    )
    stays(lambda: previews.namespace_exists(target) and waiting(), 3, "the namespace waiting")
    previews.custom.patch_namespaced_custom_object(
        CLAIM_GROUP,
        CLAIM_VERSION,
        target,
        CLAIM_PLURAL,
        claim_name,
        {"metadata": {"finalizers": None}},
    )
    previews.wait_gone(base, "pr-4")
    assert not previews.namespace_exists(target)


def test_bad_input_gets_a_clear_status_and_touches_nothing_of_the_base(
    cluster: ClusterAccess,
    berth: Berth,
    previews: Previews,
    base: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    before = berth.environment(base)
    # Ready is not always the base's last write (a CI run saw its checkout, the one with a
    # claim, written once more after it): the versions compared at the end are taken once
    # they have settled, so that only what the bad input did can change them.
    base_workloads = settles(
        lambda: {n: w["metadata"]["resourceVersion"] for n, w in workloads_of(berth, base).items()},
        3,
        60,
        "the base's Workloads",
    )

    # A ttl that does not parse: refused at admission, with what a duration is.
    refused = apply_refused(
        cluster, tmp_path, {**preview_body("bad-ttl", base), "spec": {"ttl": "a week"}}
    )
    assert "spec.ttl" in refused, refused
    assert "should match" in refused, refused

    # A ttl beyond the base's cap: the Preview stalls, and no Environment is made.
    previews.create(base, preview_body("too-long", ttl="3h"))
    stalled = previews.wait_reason(base, "too-long", "TTLTooLong")
    assert previews.condition(stalled, "Stalled") == ("True", "TTLTooLong")
    message = next(c["message"] for c in stalled["status"]["conditions"] if c["type"] == "Ready")
    assert (
        message == "ttl 3h is longer than the base allows (previews.maxTTL 2h): ask for 2h or less"
    )
    assert previews.environment(f"{base}-too-long") is None

    # Over the quota (maxCount 3): the fourth waits its turn, and gets it when one goes.
    for name in ("q1", "q2", "q3", "q4"):
        previews.create(base, preview_body(name, copyWorkloads=[]))
    waiting = previews.wait_reason(base, "q4", "PreviewQuotaExceeded")
    assert previews.condition(waiting, "Reconciling") == ("True", "PreviewQuotaExceeded")
    assert previews.environment(f"{base}-q4") is None
    previews.delete(base, "q1")
    previews.wait_gone(base, "q1", timeout=240)  # its teardown over, its slot is free
    previews.wait_ready(base, "q4", timeout=60)

    # A preview that names itself as its base: refused at admission.
    refused = apply_refused(cluster, tmp_path, preview_environment_body("self-base", "self-base"))
    assert "a preview cannot be its own base" in refused, refused

    # A base that does not exist: the preview waits, and goes on once it does.
    berth.create_environment(preview_environment_body(f"{namespace}-orphan", f"{namespace}-nobase"))
    orphan = previews.wait_environment_reason(f"{namespace}-orphan", "BaseNotFound")
    assert previews.condition(orphan, "Reconciling") == ("True", "BaseNotFound")
    assert not previews.namespace_exists(f"{namespace}-orphan")

    # A base that is itself a preview, and a cycle.
    target = previews.wait_ready(base, "q2")["status"]["namespace"]
    berth.create_environment(preview_environment_body(f"{namespace}-nested", f"{base}-q2"))
    nested = previews.wait_environment_reason(f"{namespace}-nested", "BaseIsPreview")
    assert previews.condition(nested, "Stalled") == ("True", "BaseIsPreview")
    berth.create_environment(preview_environment_body(f"{namespace}-a", f"{namespace}-b"))
    berth.create_environment(preview_environment_body(f"{namespace}-b", f"{namespace}-a"))
    cycle = previews.wait_environment_reason(f"{namespace}-a", "PreviewCycle")
    assert f"{namespace}-a -> {namespace}-b -> {namespace}-a" in json.dumps(cycle["status"])

    # A Preview made in a preview's namespace: refused at admission (the chart's policy).
    refused = apply_refused(cluster, tmp_path, preview_body("nested", target))
    assert "it is the namespace of a preview" in refused, refused

    for name in (f"{namespace}-orphan", f"{namespace}-nested", f"{namespace}-a", f"{namespace}-b"):
        berth.delete_environment(name)
    # Nothing of the base was written by any of it.
    after = berth.environment(base)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert {
        n: w["metadata"]["resourceVersion"] for n, w in workloads_of(berth, base).items()
    } == base_workloads


def preview_environment_body(name: str, base: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"type": "preview", "namespace": name, "preview": {"base": base}},
    }


def apply_refused(cluster: ClusterAccess, tmp_path: Path, manifest: dict[str, Any]) -> str:
    """kubectl apply's refusal of ``manifest`` (it must be refused)."""
    path = tmp_path / f"refused-{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    out = cluster.kubectl("apply", "-f", str(path), check=False)
    assert "created" not in out, out
    assert "configured" not in out, out
    return out
