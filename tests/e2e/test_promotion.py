"""Promotion end to end, on the real API server with the operator running.

A pipeline dev -> staging -> prod of this run's own, images in a real registry on
loopback (crane's). dev's Pods report no imageID (the kwok Stage's opt-out), so its
revisions pin the digest the registry resolves the tag to; staging and prod then run by
digest, and their kwok Pods report that digest back. The tests go in order (module
scope): a Ready generation recorded; promoted to staging and prod; dev's tag moves and
dev is edited, and neither reaches staging by itself while prod runs on by digest;
promoted again and rolled back; a promotion prod's checks refuse leaves prod's
Deployment at the same resourceVersion; and each bad input ends with its message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.cli import main
from tests.clusterharness import ClusterAccess
from tests.kubeutil import GROUP, VERSION, Berth, stays, wait_for
from tests.operatorharness import OperatorProcess
from tests.registryharness import LocalRegistry, build_release_tools, local_registry

READY_TIMEOUT = 120
NO_IMAGE_ID = {"kwok.berth.dev/image-id": "none"}


@dataclass
class Stage:
    """One Environment of the pipeline (its name is its namespace's)."""

    name: str

    @property
    def namespace(self) -> str:
        return self.name


@dataclass
class World:
    api: ApiClient
    berth: Berth
    registry: LocalRegistry
    kubeconfig: Path
    dev: Stage
    staging: Stage
    prod: Stage

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def image(self, tag: str = "v1") -> str:
        return f"{self.registry.host}/shop/checkout:{tag}"

    def cli(self, *argv: str) -> int:
        return main([*argv, "--kubeconfig", str(self.kubeconfig)])

    def workload(self, stage: Stage, name: str = "checkout") -> dict[str, Any]:
        return self.berth.workload(stage.namespace, name)

    def revisions(self, stage: Stage, name: str = "checkout") -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(
            GROUP,
            VERSION,
            stage.namespace,
            "workloadrevisions",
            label_selector=f"berth.dev/workload={name}",
        )
        return sorted(listed["items"], key=lambda r: int(r["spec"]["revision"]))

    def deployment(self, stage: Stage, name: str = "checkout") -> k8s.V1Deployment:
        return k8s.AppsV1Api(self.api).read_namespaced_deployment(name, stage.namespace)

    def recorded(self, stage: Stage, name: str = "checkout") -> dict[str, Any]:
        """Wait until the Workload's current generation is Ready and recorded; its status."""

        def done() -> dict[str, Any] | None:
            body = self.workload(stage, name)
            status = body.get("status") or {}
            current = status.get("revision") or {}
            if current.get("workloadGeneration") == body["metadata"]["generation"]:
                return status
            return None

        try:
            return wait_for(done, READY_TIMEOUT, f"{stage.name}/{name}'s revision recorded")
        except AssertionError as err:
            conditions = (self.workload(stage, name).get("status") or {}).get("conditions")
            raise AssertionError(f"{err}; its conditions: {conditions}") from None

    def promotion(self, stage: Stage, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, stage.namespace, "promotions", name
        )

    def create_promotion(self, stage: Stage, **spec: Any) -> str:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Promotion",
            "metadata": {"generateName": "checkout-"},
            "spec": {"workload": "checkout", **spec},
        }
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, stage.namespace, "promotions", body
        )
        return str(created["metadata"]["name"])

    def ended(self, stage: Stage, name: str) -> dict[str, Any]:
        """Wait until the Promotion Succeeded or Failed; its status."""

        def done() -> dict[str, Any] | None:
            status = self.promotion(stage, name).get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        return wait_for(done, READY_TIMEOUT, f"promotion {stage.name}/{name} to end")


def environment(name: str, kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "type": kind,
            "namespace": name,
            "deletionPolicy": "Delete",
            "defaults": {"containerResources": {"requests": {"cpu": "50m", "memory": "64Mi"}}},
            **spec,
        },
    }


def ready_condition(body: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == "Ready")


@pytest.fixture(scope="module")
def world(
    cluster: ClusterAccess,
    api: ApiClient,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    build_release_tools()
    suffix = uuid.uuid4().hex[:5]
    dev, staging, prod = (Stage(f"promo-{suffix}-{n}") for n in ("dev", "staging", "prod"))
    berth = Berth(api)
    envs = [
        environment(dev.name, "development"),
        environment(staging.name, "staging", promotion={"from": [dev.name]}),
        environment(
            prod.name,
            "production",
            promotion={"from": [staging.name]},
            policy={"maxReplicas": 3},
        ),
    ]
    with local_registry(tmp_path_factory.mktemp("registry")) as registry:
        for env in envs:
            berth.create_environment(env)
        for stage in (dev, staging, prod):
            wait_for(
                lambda s=stage: (berth.environment(s.name).get("status") or {}).get("namespace"),
                60,
                f"Environment {stage.name}'s namespace",
            )
        try:
            yield World(api, berth, registry, cluster.kubeconfig, dev, staging, prod)
        finally:
            for stage in (dev, staging, prod):
                berth.delete_environment(stage.name)
            for stage in (dev, staging, prod):
                try:
                    k8s.CoreV1Api(api).delete_namespace(stage.namespace)
                except ApiException as err:
                    if err.status != 404:
                        raise


def test_a_ready_generation_is_recorded_with_the_digest_the_registry_resolves(world: World) -> None:
    digest = world.registry.push("shop/checkout:v1")
    world.berth.create_workload(
        world.dev.namespace,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": "checkout"},
            "spec": {
                "metadata": {"annotations": NO_IMAGE_ID},
                "containers": {"main": {"image": world.image()}},
            },
        },
    )
    status = world.recorded(world.dev)
    assert status["revision"]["name"] == "checkout-r1"
    (revision,) = world.revisions(world.dev)
    (image,) = revision["spec"]["images"]
    assert image == {
        "container": "main",
        "image": world.image(),
        "pinned": f"{world.image()}@{digest}",
        "digest": digest,
        "source": "Registry",
    }
    assert revision["spec"]["environment"] == world.dev.name


def test_promoted_to_staging_and_prod_they_run_by_digest(world: World) -> None:
    (revision,) = world.revisions(world.dev)
    pinned = revision["spec"]["images"][0]["pinned"]
    assert (
        world.cli(
            "promote", "checkout", "--from", world.dev.name, "--to", world.staging.name, "--wait"
        )
        == 0
    )
    staging = world.workload(world.staging)
    assert staging["spec"]["containers"]["main"]["image"] == pinned
    assert world.deployment(world.staging).spec.template.spec.containers[0].image == pinned
    world.recorded(world.staging)
    # staging's Pods report the digest they run: its revision says it came from them.
    (staged,) = world.revisions(world.staging)
    assert staged["spec"]["images"][0]["source"] == "Spec"
    assert staged["spec"]["origin"]["revision"] == f"{world.dev.namespace}/checkout-r1"

    started = time.monotonic()
    assert (
        world.cli(
            "promote", "checkout", "--from", world.staging.name, "--to", world.prod.name, "--wait"
        )
        == 0
    )
    print(f"\nstaging -> prod promotion, create to Succeeded: {time.monotonic() - started:.1f}s")
    assert world.deployment(world.prod).spec.template.spec.containers[0].image == pinned
    history = world.recorded(world.prod)["history"]
    assert history[0]["revision"] == "checkout-r1"
    assert history[0]["promotion"].startswith(f"{world.prod.namespace}/checkout-")


def test_an_edit_in_dev_and_its_moved_tag_reach_neither_staging_nor_prod(world: World) -> None:
    first = world.revisions(world.dev)[0]["spec"]["images"][0]["digest"]
    staging_before = world.workload(world.staging)
    prod_image = world.deployment(world.prod).spec.template.spec.containers[0].image
    moved = world.registry.push("shop/checkout:v1")  # the tag moves
    assert moved != first
    world.berth.patch_workload(
        world.dev.namespace,
        "checkout",
        {"spec": {"containers": {"main": {"image": world.image(), "variables": {"MODE": "new"}}}}},
    )
    world.recorded(world.dev)
    second = world.revisions(world.dev)[-1]
    assert second["metadata"]["name"] == "checkout-r2"
    assert second["spec"]["images"][0]["digest"] == moved
    stays(
        lambda: (
            world.workload(world.staging)["metadata"]["resourceVersion"]
            == staging_before["metadata"]["resourceVersion"]
        ),
        5,
        "staging untouched by dev's edit",
    )
    assert prod_image.endswith(f"@{first}")
    assert world.deployment(world.prod).spec.template.spec.containers[0].image == prod_image


def test_promoted_again_then_rolled_back_to_the_previous_revision(world: World) -> None:
    assert (
        world.cli(
            "promote", "checkout", "--from", world.dev.name, "--to", world.staging.name, "--wait"
        )
        == 0
    )
    status = world.recorded(world.staging)
    assert status["revision"]["name"] == "checkout-r2"
    new_image = world.deployment(world.staging).spec.template.spec.containers[0].image
    assert (
        world.cli(
            "rollback", "checkout", "--to-revision", "1", "-n", world.staging.namespace, "--wait"
        )
        == 0
    )
    status = world.recorded(world.staging)
    assert status["revision"]["name"] == "checkout-r1"  # the old revision again, no new one
    assert [r["metadata"]["name"] for r in world.revisions(world.staging)] == [
        "checkout-r1",
        "checkout-r2",
    ]
    assert [e["revision"] for e in status["history"]] == [
        "checkout-r1",
        "checkout-r2",
        "checkout-r1",
    ]
    old_image = world.deployment(world.staging).spec.template.spec.containers[0].image
    assert old_image != new_image
    assert old_image == world.revisions(world.staging)[0]["spec"]["images"][0]["pinned"]


def test_a_promotion_prod_refuses_leaves_its_deployment_untouched(world: World) -> None:
    # dev asks for a resource type no provisioner of prod serves, and more replicas than
    # prod allows; dev and staging take it (no replica limit there, and the type served
    # by an existing Secret).
    queue = {
        "provisioners": [
            {"type": "berth-test-queue", "outputs": ["url"], "secret": {"name": "queue"}}
        ]
    }
    for stage in (world.dev, world.staging):
        k8s.CoreV1Api(world.api).create_namespaced_secret(
            stage.namespace,
            k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="queue"), string_data={"url": "q://x"}),
        )
        world.berth.patch_environment(stage.name, {"spec": queue})
    world.berth.patch_workload(
        world.dev.namespace,
        "checkout",
        {"spec": {"replicas": 5, "resources": {"queue": {"type": "berth-test-queue"}}}},
    )
    world.recorded(world.dev)
    promote = ("promote", "checkout", "--from", world.dev.name, "--to", world.staging.name)
    assert world.cli(*promote, "--wait") == 0
    assert world.recorded(world.staging)["revision"]["name"] == "checkout-r3"
    deployment_before = world.deployment(world.prod).metadata.resource_version
    workload_before = world.workload(world.prod)["metadata"]["resourceVersion"]
    name = world.create_promotion(world.prod, **{"from": world.staging.name})
    status = world.ended(world.prod, name)
    assert status["phase"] == "Failed"
    ready = ready_condition(world.promotion(world.prod, name))
    assert ready["reason"] == "ReplicasAboveLimit"
    assert "replicas 5 is above the maximum of 3" in ready["message"]
    assert "no provisioner serves resource 'queue'" in ready["message"]
    assert ready["message"].endswith("the target is unchanged")
    assert "generation" not in (status.get("target") or {})
    stays(
        lambda: (
            world.deployment(world.prod).metadata.resource_version == deployment_before
            and world.workload(world.prod)["metadata"]["resourceVersion"] == workload_before
        ),
        5,
        "prod's Deployment and Workload at the same resourceVersion",
    )


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"revision": 42}, "RevisionNotFound", "has no revision 42 (its revisions: 1, 2"),
        ({"workload": "nothing"}, "WorkloadNotFound", "has no Workload 'nothing'"),
        ({"from": "dev-that-is-not"}, "EnvironmentNotFound", "'dev-that-is-not' does not exist"),
    ],
)
def test_bad_input_ends_with_a_message_and_the_target_unchanged(
    world: World, spec: dict[str, Any], reason: str, words: str
) -> None:
    before = world.workload(world.staging)["metadata"]["resourceVersion"]
    name = world.create_promotion(world.staging, **{"from": world.dev.name, **spec})
    assert world.ended(world.staging, name)["phase"] == "Failed"
    ready = ready_condition(world.promotion(world.staging, name))
    assert ready["reason"] == reason
    assert words in ready["message"]
    assert world.workload(world.staging)["metadata"]["resourceVersion"] == before


def test_a_path_prod_does_not_accept_is_refused(world: World) -> None:
    before = world.workload(world.prod)["metadata"]["resourceVersion"]
    name = world.create_promotion(world.prod, **{"from": world.dev.name})
    world.ended(world.prod, name)
    ready = ready_condition(world.promotion(world.prod, name))
    assert ready["reason"] == "PromotionPathNotAllowed"
    assert world.workload(world.prod)["metadata"]["resourceVersion"] == before


def test_a_workload_never_ready_has_no_revision_to_promote(world: World) -> None:
    world.berth.create_workload(
        world.dev.namespace,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": "broken"},
            "spec": {
                "metadata": {"annotations": {"kwok.berth.dev/fail": "CrashLoopBackOff"}},
                "containers": {"main": {"image": world.image()}},
            },
        },
    )
    name = world.create_promotion(world.staging, **{"from": world.dev.name, "workload": "broken"})
    world.ended(world.staging, name)
    ready = ready_condition(world.promotion(world.staging, name))
    assert ready["reason"] == "NoReadyRevision"
    assert "none of its generations has become Ready" in ready["message"]
