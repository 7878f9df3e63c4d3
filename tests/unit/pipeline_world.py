"""A World with a pipeline in it, for the unit tests of the revision recorder and the
Promotion reconciler: Environments dev, staging and prod (each its own namespace),
Workloads made Ready by playing the Deployment controller and the kubelets, and a
registry that answers what a test tells it to."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from berth.handlers import promotion as promotion_handler
from berth.handlers import revisions as revision_handler
from berth.handlers import workload as workload_handler
from berth.handlers.keys import PromotionKey, RevisionKey, WorkloadKey
from berth.registry.resolver import Resolution
from tests.unit.world import World

API = "berth.dev/v1alpha1"
IMAGE = "registry.acme.dev/shop/checkout:1.4"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@dataclass
class FakeRegistry:
    """Stands in for berth.registry.Resolver: answers from a dict, records who asked."""

    digests: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, list[str]]] = field(default_factory=list)

    async def resolve(self, image: str, pull_secrets: Any = ()) -> Resolution:
        self.asked.append((image, [s["metadata"]["name"] for s in pull_secrets]))
        if image in self.digests:
            return Resolution(self.digests[image])
        return Resolution(None, f"registry has no {image}")

    async def close(self) -> None:
        pass


def environment(name: str, **spec: Any) -> dict[str, Any]:
    body = {"type": "development", "namespace": name, **spec}
    return {"apiVersion": API, "kind": "Environment", "metadata": {"name": name}, "spec": body}


def workload(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body = {"containers": {"main": {"image": IMAGE}}, **copy.deepcopy(spec)}
    return {
        "apiVersion": API,
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


class Pipeline:
    def __init__(self) -> None:
        self.world = World()
        self.api = self.world.api
        self.registry = FakeRegistry()
        self.world.context.registry = self.registry  # type: ignore[assignment]
        self.pods = 0

    def add_environment(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.world.add(environment(name, **spec), age=600)

    def add_workload(self, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
        return self.world.add(workload(name, namespace, **spec), age=60)

    def body(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        found = self.api.stored(API, kind, name, namespace)
        assert found is not None, f"{kind} {namespace}/{name} is gone"
        return found

    def edit(self, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
        return self.api.edit(API, "Workload", name, namespace, {"spec": spec})

    async def sync(self) -> None:
        await self.world.sync()

    async def make_ready(self, name: str, namespace: str, image_id: str | None = None) -> None:
        """The Workload reconciled, its Deployment rolled out, a Pod of it running (with
        ``image_id`` reported, if given), and reconciled again: Ready."""
        await self.reconcile_workload(name, namespace)
        deployment = self.api.stored("apps/v1", "Deployment", name, namespace)
        assert deployment is not None
        replicas = int(deployment["spec"].get("replicas", 1))
        self.api.set_status(
            "apps/v1",
            "Deployment",
            name,
            namespace,
            {
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                ],
            },
        )
        if image_id is not None:
            self.add_pod(name, namespace, deployment, image_id)
        await self.reconcile_workload(name, namespace)

    def add_pod(self, name: str, namespace: str, deployment: dict[str, Any], image_id: str) -> None:
        self.pods += 1
        template = deployment["spec"]["template"]
        labels = {**template["metadata"]["labels"], "pod-template-hash": "h1"}
        containers = template["spec"]["containers"]
        self.api.add(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{name}-h1-{self.pods}",
                    "namespace": namespace,
                    "labels": labels,
                    "ownerReferences": [
                        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-h1"}
                    ],
                },
                "spec": {"containers": containers},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {"name": c["name"], "ready": True, "imageID": image_id, "image": c["image"]}
                        for c in containers
                    ],
                },
            }
        )

    async def reconcile_workload(self, name: str, namespace: str) -> None:
        await self.sync()
        await workload_handler.reconcile(self.world.context, WorkloadKey(namespace, name))

    async def record(self, name: str, namespace: str) -> float | None:
        """One reconcile of the revision recorder, from a cache caught up."""
        await self.sync()
        self.api.forget_history()
        return await revision_handler.reconcile(self.world.context, RevisionKey(namespace, name))

    async def promote(self, name: str, namespace: str) -> float | None:
        await self.sync()
        self.api.forget_history()
        return await promotion_handler.reconcile(self.world.context, PromotionKey(namespace, name))

    def revisions(self, namespace: str) -> list[dict[str, Any]]:
        return sorted(
            self.api.of_kind("WorkloadRevision", namespace),
            key=lambda r: int(r["spec"]["revision"]),
        )

    def add_promotion(
        self, name: str, namespace: str, *, age: float = 10, **spec: Any
    ) -> dict[str, Any]:
        body = {
            "apiVersion": API,
            "kind": "Promotion",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"workload": "checkout", **spec},
        }
        return self.world.add(body, age=age)

    def promotion_status(self, name: str, namespace: str) -> dict[str, Any]:
        return dict(self.body("Promotion", name, namespace).get("status") or {})

    def ready(self, name: str, namespace: str) -> tuple[str, str, str]:
        """(phase, Ready's reason, Ready's message) of a Promotion."""
        status = self.promotion_status(name, namespace)
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        return status["phase"], ready["reason"], ready["message"]
