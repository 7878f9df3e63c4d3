"""Helpers for tests that arrange and inspect objects on the real API server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.names import ENVIRONMENT_LABEL

GROUP, VERSION = "berth.dev", "v1alpha1"
T = TypeVar("T")


def poll_until(predicate: Callable[[], T], timeout: float, interval: float = 0.2) -> T:
    """Poll until the predicate returns something truthy, for at most ``timeout``
    seconds; what it returned last (falsy when it never came). For cleanups that go on
    either way; a test waits with ``wait_for``."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last or time.monotonic() >= deadline:
            return last
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], T], seconds: float, what: str, interval: float = 0.05
) -> T:
    """``wait_for`` for a test that runs in an event loop: the loop goes on meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll until the predicate returns something truthy; fail naming what never came."""
    last = poll_until(predicate, timeout, interval)
    if not last:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")
    return last


def settles(
    read: Callable[[], T], quiet: float, timeout: float, what: str, interval: float = 0.25
) -> T:
    """Poll until ``read()`` has returned the same value for ``quiet`` seconds (a burst
    of writes is over); that value. Fail naming what never settled."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} did not settle for {quiet}s within {timeout}s; last seen: {value!r}"
            )
        time.sleep(interval)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
    return value


def stays(predicate: Callable[[], bool], seconds: float, what: str, interval: float = 0.25) -> None:
    """Assert the predicate holds for the whole period."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"{what} stopped holding"
        time.sleep(interval)


class Berth:
    """Workloads and Environments through the API server, as a user would apply them."""

    def __init__(self, api: ApiClient) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.apps = k8s.AppsV1Api(api)
        self.core = k8s.CoreV1Api(api)
        self.admission = k8s.AdmissionregistrationV1Api(api)

    # Environments (cluster-scoped)
    def create_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_cluster_custom_object(GROUP, VERSION, "environments", body)  # type: ignore[no-any-return]

    def environment(self, name: str) -> dict[str, Any]:
        return self.custom.get_cluster_custom_object(GROUP, VERSION, "environments", name)  # type: ignore[no-any-return]

    def patch_environment(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_cluster_custom_object(GROUP, VERSION, "environments", name, patch)  # type: ignore[no-any-return]

    def delete_environment(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, "environments", name)
        except ApiException as err:
            if err.status != 404:
                raise

    def wait_served(self, environment: str, namespace: str, timeout: float = 30) -> None:
        """Until the operator has labelled ``namespace`` as ``environment``'s and bound the
        admission policies to it: from then on admission checks the namespace's Workloads
        against that Environment's policy (and before, refuses them: no Environment
        serves the namespace yet)."""

        def labelled() -> bool:
            labels = self.core.read_namespace(namespace).metadata.labels or {}
            return labels.get(ENVIRONMENT_LABEL) == environment

        def bound() -> bool:  # the operator binds the policies right after labelling
            found = self.admission.list_validating_admission_policy_binding(
                label_selector=f"{ENVIRONMENT_LABEL}={environment}"
            )
            return len(found.items) == 3  # one per level: Deny, Warn, Audit

        wait_for(
            labelled, timeout, f"namespace {namespace} labelled as Environment {environment}'s"
        )
        wait_for(bound, timeout, f"the admission policies bound for Environment {environment}")

    # Workloads
    def create_workload(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "workloads", body
        )  # type: ignore[no-any-return]

    def wait_admitted(self, namespace: str, body: dict[str, Any], timeout: float = 30) -> None:
        """Until a server-side dry run of creating ``body`` is admitted: the API server's
        admission policies read an Environment's policy from a watch, a moment behind a
        change to it (a refusal by them is a 403)."""

        def admitted() -> bool:
            try:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "workloads", body, dry_run="All"
                )
            except ApiException as err:
                if err.status != 403:
                    raise
                return False
            return True

        wait_for(admitted, timeout, f"Workload {body['metadata']['name']} admitted", interval=0.5)

    def workload(self, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "workloads", name
        )  # type: ignore[no-any-return]

    def patch_workload(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace, "workloads", name, patch
        )

    def delete_workload(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "workloads", name)

    def condition(self, namespace: str, name: str, type_: str) -> dict[str, Any] | None:
        status = self.workload(namespace, name).get("status") or {}
        for cond in status.get("conditions") or []:
            if cond["type"] == type_:
                return cond  # type: ignore[no-any-return]
        return None

    def wait_condition(
        self,
        namespace: str,
        name: str,
        type_: str,
        status: str,
        timeout: float = 60,
        reason: str | None = None,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            cond = self.condition(namespace, name, type_)
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
                return cond
            return None

        return wait_for(
            check, timeout, f"{type_}={status} ({reason or 'any reason'}) on {namespace}/{name}"
        )

    def rolled_out(self, namespace: str, name: str, image: str) -> bool:
        """The Workload is Ready at its generation and its Deployment runs ``image``."""
        body = self.workload(namespace, name)
        status = body.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        if status.get("observedGeneration") != body["metadata"]["generation"]:
            return False
        if ready.get("status") != "True":
            return False
        deployment = self.apps.read_namespaced_deployment(name, namespace)
        return bool(deployment.spec.template.spec.containers[0].image == image)

    def workload_events(self, namespace: str, name: str, type_: str | None = None) -> list[Any]:
        """The Events about one Workload, optionally of one type (Normal, Warning)."""
        events = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=Workload"
        ).items
        return [e for e in events if type_ is None or e.type == type_]

    def wait_event_reasons(
        self,
        namespace: str,
        name: str,
        expected: list[str],
        type_: str | None = "Warning",
        timeout: float = 15,
    ) -> list[Any]:
        """Wait until the Workload's Events have exactly these reasons, in order.

        The operator posts an Event after the status write a test waits for, so reading
        the Events once right after the status races with it.
        """

        def reasons() -> list[str]:
            return [e.reason for e in self.workload_events(namespace, name, type_)]

        wait_for(lambda: reasons() == expected, timeout, f"Events {expected} on {namespace}/{name}")
        return self.workload_events(namespace, name, type_)


def environment_body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "development",
        "namespace": namespace,
        "defaults": {
            "replicas": 1,
            "containerResources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        },
        "policy": {"allowedRegistries": ["registry.acme.dev/"], "maxReplicas": 3},
    }
    base.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": base,
    }


def workload_body(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "containers": {
            "main": {
                "image": "registry.acme.dev/app:1.0",
                "variables": {"NAME": "${metadata.name}"},
            }
        }
    }
    base.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": name},
        "spec": base,
    }
