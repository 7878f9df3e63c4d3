"""A test-only composer: it plays Crossplane's part for claims, because Crossplane
itself cannot run here.

For every claim of the kinds it is given, it does what Crossplane would make visible
to Berth: after a short delay it writes the claim's connection Secret and marks the
claim Synced and Ready. A claim can ask for trouble through annotations:

- ``composer.berth.dev/fail: <message>``: Synced=False with that message, no Secret;
- ``composer.berth.dev/omit-keys: a,b``: the Secret lacks those keys;
- ``composer.berth.dev/delay: <seconds>``: wait that long after creation (default 0.5).

It polls (every ``interval`` seconds) in a thread of the test process, and only ever
touches claims and the Secrets they name.
"""

from __future__ import annotations

import base64
import datetime
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

FAIL = "composer.berth.dev/fail"
OMIT_KEYS = "composer.berth.dev/omit-keys"
DELAY = "composer.berth.dev/delay"


@dataclass(frozen=True)
class ClaimKind:
    group: str
    version: str
    plural: str
    # The connection details Crossplane's composition would publish.
    connection: dict[str, str]


@dataclass
class TestOnlyComposer:
    api: ApiClient
    kinds: list[ClaimKind]
    interval: float = 0.3
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="test-only-composer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        custom = k8s.CustomObjectsApi(self.api)
        core = k8s.CoreV1Api(self.api)
        while not self._stop.is_set():
            for kind in self.kinds:
                try:
                    claims = custom.list_cluster_custom_object(
                        kind.group, kind.version, kind.plural
                    )
                except ApiException as err:
                    if err.status != 404:  # the claim CRD is not installed (yet)
                        self.errors.append(f"list {kind.plural}: {err.status} {err.reason}")
                    continue
                for claim in claims.get("items", []):
                    try:
                        self._compose(custom, core, kind, claim)
                    except ApiException as err:
                        if err.status not in (404, 409):
                            self.errors.append(
                                f"{kind.plural}/{claim['metadata']['name']}: {err.reason}"
                            )
            self._stop.wait(self.interval)

    def _compose(
        self,
        custom: k8s.CustomObjectsApi,
        core: k8s.CoreV1Api,
        kind: ClaimKind,
        claim: dict[str, Any],
    ) -> None:
        meta = claim["metadata"]
        if meta.get("deletionTimestamp"):
            return
        annotations = meta.get("annotations") or {}
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if FAIL in annotations:
            status = {
                "conditions": [
                    condition("Synced", "False", "ReconcileError", annotations[FAIL], now),
                    condition("Ready", "False", "Creating", "", now),
                ]
            }
            self._set_status(custom, kind, claim, status)
            return
        created = datetime.datetime.strptime(
            meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=datetime.UTC)
        delay = float(annotations.get(DELAY, "0.5"))
        if (datetime.datetime.now(datetime.UTC) - created).total_seconds() < delay:
            self._set_status(
                custom,
                kind,
                claim,
                {
                    "conditions": [
                        condition("Synced", "True", "ReconcileSuccess", "", now),
                        condition("Ready", "False", "Creating", "", now),
                    ]
                },
            )
            return
        omit = {k.strip() for k in annotations.get(OMIT_KEYS, "").split(",") if k.strip()}
        secret_ref = (claim.get("spec") or {}).get("writeConnectionSecretToRef") or {}
        if secret_ref.get("name"):
            data = {
                key: base64.b64encode(value.replace("{name}", meta["name"]).encode()).decode()
                for key, value in kind.connection.items()
                if key not in omit
            }
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": secret_ref["name"],
                    "namespace": meta["namespace"],
                    "labels": {"composer.berth.dev/claim": meta["name"]},
                },
                "type": "connection.crossplane.io/v1alpha1",
                "data": data,
            }
            try:
                existing = core.read_namespaced_secret(secret_ref["name"], meta["namespace"])
                if (existing.data or {}) != data:
                    core.replace_namespaced_secret(secret_ref["name"], meta["namespace"], body)
            except ApiException as err:
                if err.status != 404:
                    raise
                core.create_namespaced_secret(meta["namespace"], body)
        self._set_status(
            custom,
            kind,
            claim,
            {
                "conditions": [
                    condition("Synced", "True", "ReconcileSuccess", "", now),
                    condition("Ready", "True", "Available", "", now),
                ]
            },
        )

    def _set_status(
        self,
        custom: k8s.CustomObjectsApi,
        kind: ClaimKind,
        claim: dict[str, Any],
        status: dict[str, Any],
    ) -> None:
        current = (claim.get("status") or {}).get("conditions") or []
        summary = [(c["type"], c["status"], c.get("message", "")) for c in current]
        wanted = [(c["type"], c["status"], c.get("message", "")) for c in status["conditions"]]
        if summary == wanted:
            return
        custom.patch_namespaced_custom_object_status(
            kind.group,
            kind.version,
            claim["metadata"]["namespace"],
            kind.plural,
            claim["metadata"]["name"],
            {"status": status},
        )


def condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }

