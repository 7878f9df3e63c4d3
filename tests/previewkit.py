"""What the preview tests share: a base with a claim-backed app, Previews, and a watch
that records the API server's own order of events (resourceVersions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.composer import FINALIZE
from tests.kubeutil import Berth, environment_body, wait_for, workload_body

GROUP, VERSION = "berth.dev", "v1alpha1"
CLAIM_GROUP, CLAIM_VERSION, CLAIM_PLURAL = "platform.acme.dev", "v1alpha1", "postgresqlinstances"


def postgres_provisioner(finalize_after: str = "1") -> dict[str, Any]:
    """A crossplane provisioner of the example PostgreSQLInstance claim, whose claims the
    test-only composer holds a finalizer on (released ``finalize_after`` seconds after
    the claim's deletion), as Crossplane does."""
    return {
        "name": "postgres",
        "type": "postgres",
        "outputs": ["host", "password"],
        "crossplane": {
            "apiVersion": f"{CLAIM_GROUP}/{CLAIM_VERSION}",
            "kind": "PostgreSQLInstance",
            "parameters": {"storageGB": 10},
            "fieldPaths": {"host": "status.host"},
            "annotations": {FINALIZE: finalize_after},
        },
    }


def base_environment(name: str, namespace: str, **previews: Any) -> dict[str, Any]:
    body = environment_body(name, namespace, provisioners=[postgres_provisioner()])
    body["spec"]["policy"]["maxReplicas"] = 5
    body["spec"]["previews"] = previews
    return body


def app_workload(
    name: str, image: str = "registry.acme.dev/app:1.0", db: bool = False
) -> dict[str, Any]:
    """One Workload of the app; ``db``: it uses a postgres resource (a claim)."""
    spec: dict[str, Any] = {"containers": {"main": {"image": image, "variables": {"NAME": name}}}}
    if db:
        spec["containers"]["main"]["variables"]["DB_HOST"] = "${resources.db.host}"
        spec["resources"] = {"db": {"type": "postgres"}}
    return workload_body(name, **spec)


def preview_body(name: str, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Preview", "metadata": meta, "spec": spec}


class Previews:
    """Previews and preview Environments through the API server."""

    def __init__(self, api: ApiClient, berth: Berth) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.core = k8s.CoreV1Api(api)
        self.berth = berth

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace, "previews", body
        )

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, namespace, "previews", name
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "previews", name)
        except ApiException as err:
            if err.status != 404:
                raise

    def environment(self, name: str) -> dict[str, Any] | None:
        try:
            return self.berth.environment(name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def condition(
        self, body: dict[str, Any] | None, type_: str = "Ready"
    ) -> tuple[str, str] | None:
        for cond in ((body or {}).get("status") or {}).get("conditions") or []:
            if cond["type"] == type_:
                return cond["status"], cond["reason"]
        return None

    def wait_ready(self, namespace: str, name: str, timeout: float = 90) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            body = self.get(namespace, name)
            return body if self.condition(body) == ("True", "Ready") else None

        try:
            return wait_for(ready, timeout, f"Preview {namespace}/{name} Ready")
        except AssertionError as err:
            body = self.get(namespace, name) or {}
            said = (body.get("status") or {}).get("conditions")
            raise AssertionError(f"{err}; its conditions: {said}") from None

    def wait_reason(
        self, namespace: str, name: str, reason: str, timeout: float = 60
    ) -> dict[str, Any]:
        def says() -> dict[str, Any] | None:
            body = self.get(namespace, name)
            found = self.condition(body)
            return body if found is not None and found[1] == reason else None

        return wait_for(says, timeout, f"Preview {namespace}/{name} Ready reason {reason}")

    def wait_environment_reason(
        self, name: str, reason: str, timeout: float = 60
    ) -> dict[str, Any]:
        def says() -> dict[str, Any] | None:
            body = self.environment(name)
            found = self.condition(body)
            return body if found is not None and found[1] == reason else None

        return wait_for(says, timeout, f"Environment {name} Ready reason {reason}")

    def wait_gone(self, namespace: str, name: str, timeout: float = 120) -> None:
        wait_for(
            lambda: self.get(namespace, name) is None, timeout, f"Preview {namespace}/{name} gone"
        )

    def namespace_exists(self, name: str) -> bool:
        try:
            self.core.read_namespace(name)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def claims(self, namespace: str) -> list[dict[str, Any]]:
        return self.custom.list_namespaced_custom_object(  # type: ignore[no-any-return]
            CLAIM_GROUP, CLAIM_VERSION, namespace, CLAIM_PLURAL
        )["items"]

    def remove_all(self, namespace: str, timeout: float = 180) -> None:
        """Delete every Preview of ``namespace`` and wait for their teardowns."""
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "previews")[
            "items"
        ]
        for item in items:
            self.delete(namespace, item["metadata"]["name"])
        for item in items:
            self.wait_gone(namespace, item["metadata"]["name"], timeout)


# -- the API server's own record ------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One watch event: its resourceVersion (etcd's revision: one order for everything
    the API server stores), what, and whether the object was marked for deletion."""

    revision: int
    kind: str
    name: str
    type: str
    deleting: bool
    at: float  # the test's monotonic clock, for the measurements


@dataclass
class Recorder:
    """Watches of several kinds, each in a thread, recording every event."""

    api: ApiClient
    seen: list[Seen] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _watches: list[k8s_watch.Watch] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def watch(self, kind: str, lister: Any, *args: Any, **kwargs: Any) -> None:
        watcher = k8s_watch.Watch()
        self._watches.append(watcher)
        started = threading.Event()

        def run() -> None:
            try:
                follow()
            except Exception:  # the watch was stopped, or the test is over
                if not self._stopped.is_set():
                    raise

        def follow() -> None:
            listed = lister(*args, **kwargs)
            version = (
                listed["metadata"]["resourceVersion"]
                if isinstance(listed, dict)
                else listed.metadata.resource_version
            )
            started.set()
            for event in watcher.stream(
                lister, *args, resource_version=version, timeout_seconds=600, **kwargs
            ):
                obj = event["object"]
                meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata.to_dict()
                with self._lock:
                    self.seen.append(
                        Seen(
                            revision=int(
                                meta[
                                    "resource_version"
                                    if "resource_version" in meta
                                    else "resourceVersion"
                                ]
                            ),
                            kind=kind,
                            name=meta["name"],
                            type=event["type"],
                            deleting=bool(
                                meta.get("deletion_timestamp") or meta.get("deletionTimestamp")
                            ),
                            at=time.monotonic(),
                        )
                    )

        thread = threading.Thread(target=run, name=f"record-{kind}", daemon=True)
        thread.start()
        self._threads.append(thread)
        started.wait(30)

    def stop(self) -> None:
        self._stopped.set()
        for watcher in self._watches:
            watcher.stop()

    def events(self, kinds: Iterable[str] | None = None) -> list[Seen]:
        with self._lock:
            found = list(self.seen)
        wanted = set(kinds) if kinds is not None else None
        return sorted(
            (s for s in found if wanted is None or s.kind in wanted), key=lambda s: s.revision
        )

    def first_deleting(self, kind: str) -> Seen | None:
        return next((s for s in self.events([kind]) if s.deleting or s.type == "DELETED"), None)

    def last_deleted(self, kind: str) -> Seen | None:
        gone = [s for s in self.events([kind]) if s.type == "DELETED"]
        return gone[-1] if gone else None
