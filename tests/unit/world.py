"""A cluster in a dict for the controllers' unit tests: the fake API, a clock that stands
still, and a Runtime wired to both (a new one per World: nothing the reconcilers remember
is shared between tests); reconcile a Workload or an Environment and read what was written
and which Events were posted."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

from berth.clock import rfc3339
from berth.handlers import environment as environment_handler
from berth.handlers import workload as workload_handler
from berth.handlers.config import OperatorConfig
from berth.handlers.context import AfterClaimCreated, Context
from berth.handlers.keys import EnvironmentKey, WorkloadKey
from berth.handlers.runtime import Runtime
from tests.fakeapi import FakeApi, FakeClock
from tests.unit.builders import NAMESPACE, environment_dict, workload_dict

CLAIM_API = "platform.acme.dev/v1alpha1"
CLAIM_KIND = "PostgreSQLInstance"

# A Crossplane provisioner of postgres, as a platform team writes it.
POSTGRES: dict[str, Any] = {
    "name": "postgres",
    "type": "postgres",
    "outputs": ["host", "port", "username", "password"],
    "crossplane": {
        "apiVersion": CLAIM_API,
        "kind": CLAIM_KIND,
        "parameters": {"storageGB": 10},
        "allowedParams": ["storageGB"],
        "fieldPaths": {"host": "status.host", "port": "status.port"},
    },
}

WEB_SERVICE = {"ports": {"web": {"port": 80, "targetPort": 8080}}}


class World:
    def __init__(
        self,
        *,
        namespaces: tuple[str, ...] = (),
        before_write: Callable[[], None] | None = None,
        after_claim_created: AfterClaimCreated | None = None,
    ) -> None:
        """``before_write``: the client's gate of every write (a Sharder's ``guard``);
        ``after_claim_created``: the Runtime's test hook."""
        self.clock = FakeClock()
        self.api = FakeApi(now=self.clock.now, before_write=before_write)
        self.api.serve(CLAIM_API, CLAIM_KIND)
        self.runtime = Runtime(
            config=OperatorConfig(namespaces=namespaces),
            client=self.api,
            clock=self.clock,
            after_claim_created=after_claim_created,
        )

    @property
    def context(self) -> Context:
        """What the reconcilers are given."""
        return self.runtime.context

    # -- arranging ------------------------------------------------------------------------

    def add(
        self, obj: dict[str, Any], *, age: float = 0.0, by_berth: bool = False
    ) -> dict[str, Any]:
        """Store an object created ``age`` seconds ago (``by_berth``: by Berth's apply,
        else by kubectl)."""
        body = copy.deepcopy(obj)
        created = self.clock.now() - datetime.timedelta(seconds=age)
        body["metadata"].setdefault("creationTimestamp", rfc3339(created))
        if by_berth:
            return self.api.add(body, manager="berth", operation="Apply")
        return self.api.add(body)

    def add_environment(self, name: str = NAMESPACE, **spec: Any) -> dict[str, Any]:
        env = environment_dict(**spec)
        env["metadata"]["name"] = name
        return self.add(env, age=600)

    def add_workload(
        self, name: str = "checkout", *, age: float = 60, **spec: Any
    ) -> dict[str, Any]:
        return self.add(workload_dict(name, **spec), age=age)

    def workload_body(self, name: str = "checkout") -> dict[str, Any]:
        body = self.api.stored("berth.dev/v1alpha1", "Workload", name, NAMESPACE)
        assert body is not None, f"Workload {name} is gone"
        return body

    def edit_workload(self, name: str = "checkout", **spec: Any) -> dict[str, Any]:
        """Change a Workload's spec as its developer would (generation moves)."""
        return self.api.edit("berth.dev/v1alpha1", "Workload", name, NAMESPACE, {"spec": spec})

    def edit_environment(self, name: str = NAMESPACE, **spec: Any) -> dict[str, Any]:
        return self.api.edit("berth.dev/v1alpha1", "Environment", name, None, {"spec": spec})

    def claims(self) -> list[dict[str, Any]]:
        return self.api.of_kind(CLAIM_KIND, NAMESPACE)

    def make_claim_ready(
        self, claim: dict[str, Any], *, secret_keys: tuple[str, ...] = ("username", "password")
    ) -> None:
        """Play Crossplane: the claim Synced and Ready with its fields, its connection
        Secret written."""
        name = claim["metadata"]["name"]
        self.api.set_status(
            CLAIM_API,
            CLAIM_KIND,
            name,
            NAMESPACE,
            {
                "host": "db.internal",
                "port": 5432,
                "conditions": [
                    {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
                    {"type": "Ready", "status": "True", "reason": "Available"},
                ],
            },
            manager="crossplane",
        )
        secret = claim["spec"]["writeConnectionSecretToRef"]["name"]
        self.api.add(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret, "namespace": NAMESPACE},
                "data": dict.fromkeys(secret_keys, "c2VjcmV0"),
            },
            manager="crossplane",
        )

    def roll_out(self, name: str = "checkout") -> dict[str, Any]:
        """Play the Deployment controller (and the kubelets): every replica of the
        Deployment's current generation updated, ready and available."""
        deployment = self.api.stored("apps/v1", "Deployment", name, NAMESPACE)
        assert deployment is not None, f"Deployment {name} does not exist"
        replicas = int(deployment["spec"].get("replicas", 1))
        return self.api.set_status(
            "apps/v1",
            "Deployment",
            name,
            NAMESPACE,
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

    # -- acting ---------------------------------------------------------------------------

    async def sync(self) -> None:
        """The watches catch up with what is stored."""
        await self.api.fill(self.runtime.cache)

    async def reconcile(self, name: str = "checkout", *, caught_up: bool = True) -> float | None:
        """One reconcile of a Workload, from a cache that has caught up (or, with
        ``caught_up=False``, one whose watches have not brought our last writes back
        yet); the record of calls and writes starts afresh."""
        if caught_up:
            await self.sync()
        self.api.forget_history()
        return await workload_handler.reconcile(self.context, WorkloadKey(NAMESPACE, name))

    async def reconcile_environment(self, name: str = NAMESPACE) -> float | None:
        await self.sync()
        self.api.forget_history()
        return await environment_handler.reconcile(self.context, EnvironmentKey(name))

    # -- reading --------------------------------------------------------------------------

    def status(self, name: str = "checkout") -> dict[str, Any]:
        return dict(self.workload_body(name).get("status") or {})

    def condition(self, type_: str, name: str = "checkout") -> tuple[str, str]:
        """(status, reason) of one of the Workload's conditions."""
        for cond in self.status(name).get("conditions") or []:
            if cond["type"] == type_:
                return cond["status"], cond["reason"]
        raise AssertionError(f"Workload {name} has no {type_} condition: {self.status(name)}")

    def message(self, type_: str, name: str = "checkout") -> str:
        for cond in self.status(name).get("conditions") or []:
            if cond["type"] == type_:
                return str(cond["message"])
        raise AssertionError(f"no {type_} condition")

    def written(self) -> list[tuple[str, str, str]]:
        """(verb, kind, name) of each write of the last reconcile but Events."""
        return self.api.written()

    def events(self, name: str = "checkout") -> list[str]:
        """The reasons of the Events about ``name``, oldest first."""
        return self.api.event_reasons(name)
