"""A test-only composer: it plays Crossplane's part for claims, because Crossplane
itself cannot run here.

For every claim of the kinds it is given, it does what Crossplane would make visible
to Berth: after a short delay it writes the claim's connection Secret and marks the
claim Synced and Ready. A claim can ask for trouble through annotations:

- ``composer.berth.dev/fail: <message>``: Synced=False with that message, no Secret;
- ``composer.berth.dev/omit-keys: a,b``: the Secret lacks those keys;
- ``composer.berth.dev/delay: <seconds>``: wait that long after creation (default 0.5);
- ``composer.berth.dev/finalize: <seconds>``: hold a finalizer on the claim, as Crossplane
  does, and let it go that many seconds after the claim is deleted; ``never`` holds it
  until the annotation changes (a claim that will not go).

It polls (every ``interval`` seconds) in a thread of the test process, and only ever
touches claims and the Secrets they name.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

FAIL = "composer.berth.dev/fail"
OMIT_KEYS = "composer.berth.dev/omit-keys"
DELAY = "composer.berth.dev/delay"
FINALIZE = "composer.berth.dev/finalize"
FINALIZER = "composer.berth.dev/claim"


@dataclass(frozen=True)
class ClaimKind:
    group: str
    version: str
    plural: str
    # The connection details Crossplane's composition would publish ("{name}" is the
    # claim's name), and the fields its composite would report on the claim's status.
    connection: dict[str, str]
    status: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestOnlyComposer:
    __test__ = False  # a helper for tests, not a test class
    api: ApiClient
    kinds: list[ClaimKind]
    interval: float = 0.3
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)
    # While held, it composes nothing: a test plays Crossplane by hand meanwhile.
    _held: threading.Event = field(default_factory=threading.Event)
    _pass: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Compose nothing until the block ends (a pass under way finishes first)."""
        with self._pass:
            self._held.set()
        try:
            yield
        finally:
            self._held.clear()

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
            with self._pass:
                if not self._held.is_set():
                    self._compose_all(custom, core)
            self._stop.wait(self.interval)

    def _compose_all(self, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api) -> None:
        for kind in self.kinds:
            try:
                claims = custom.list_cluster_custom_object(kind.group, kind.version, kind.plural)
            except ApiException as err:
                if err.status != 404:  # the claim CRD is not installed (yet)
                    self.errors.append(f"list {kind.plural}: {err.status} {err.reason}")
                continue
            for claim in claims.get("items", []):
                try:
                    self._compose(custom, core, kind, claim)
                except ApiException as err:
                    # 403: the claim's namespace is terminating; 404/409: raced a change.
                    if err.status not in (403, 404, 409):
                        self.errors.append(
                            f"{kind.plural}/{claim['metadata']['name']}: {err.reason}"
                        )

    def _compose(
        self,
        custom: k8s.CustomObjectsApi,
        core: k8s.CoreV1Api,
        kind: ClaimKind,
        claim: dict[str, Any],
    ) -> None:
        meta = claim["metadata"]
        annotations = meta.get("annotations") or {}
        if FINALIZE in annotations:
            self._finalize(custom, kind, claim, annotations[FINALIZE])
        if meta.get("deletionTimestamp"):
            return
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
        published = {
            key: value.replace("{name}", meta["name"]) if isinstance(value, str) else value
            for key, value in kind.status.items()
        }
        self._set_status(
            custom,
            kind,
            claim,
            {
                **published,
                "conditions": [
                    condition("Synced", "True", "ReconcileSuccess", "", now),
                    condition("Ready", "True", "Available", "", now),
                ],
            },
        )

    def _finalize(
        self, custom: k8s.CustomObjectsApi, kind: ClaimKind, claim: dict[str, Any], hold: str
    ) -> None:
        """Hold the finalizer while the claim lives; let it go ``hold`` seconds after its
        deletion (never, for ``never``)."""
        meta = claim["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        deleted = meta.get("deletionTimestamp")
        if not deleted:
            if FINALIZER not in finalizers:
                self._set_finalizers(custom, kind, claim, [*finalizers, FINALIZER])
            return
        if FINALIZER not in finalizers or hold == "never":
            return
        since = datetime.datetime.strptime(deleted, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
        if (datetime.datetime.now(datetime.UTC) - since).total_seconds() >= float(hold):
            self._set_finalizers(custom, kind, claim, [f for f in finalizers if f != FINALIZER])

    @staticmethod
    def _set_finalizers(
        custom: k8s.CustomObjectsApi, kind: ClaimKind, claim: dict[str, Any], finalizers: list[str]
    ) -> None:
        meta = claim["metadata"]
        custom.patch_namespaced_custom_object(
            kind.group,
            kind.version,
            meta["namespace"],
            kind.plural,
            meta["name"],
            {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}},
        )

    def _set_status(
        self,
        custom: k8s.CustomObjectsApi,
        kind: ClaimKind,
        claim: dict[str, Any],
        status: dict[str, Any],
    ) -> None:
        current = claim.get("status") or {}

        def summary(status: dict[str, Any]) -> Any:
            conditions = [
                (c["type"], c["status"], c.get("message", ""))
                for c in status.get("conditions") or []
            ]
            return conditions, {k: v for k, v in status.items() if k != "conditions"}

        if summary(current) == summary(status):
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


# What the example claim kinds (examples/claim-crds) publish, as their Compositions would.
EXAMPLE_KINDS = [
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "postgresqlinstances",
        connection={"password": "pw-{name}", "username": "app"},
        status={
            "host": "{name}.postgres.internal",
            "port": 5432,
            "database": "app",
            "username": "app",
        },
    ),
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "mysqlinstances",
        connection={"password": "pw-{name}", "username": "app"},
        status={
            "host": "{name}.mysql.internal",
            "port": 3306,
            "database": "app",
            "username": "app",
        },
    ),
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "redisinstances",
        connection={"password": "pw-{name}", "username": "default"},
        status={"host": "{name}.redis.internal", "port": 6379, "username": "default"},
    ),
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "mongodbinstances",
        connection={
            "password": "pw-{name}",
            "username": "app",
            "connection": "mongodb://app:pw-{name}@{name}.mongo.internal:27017",
        },
        status={"host": "{name}.mongo.internal", "port": 27017, "username": "app"},
    ),
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "amqpvirtualhosts",
        connection={"password": "pw-{name}", "username": "app"},
        status={"host": "{name}.amqp.internal", "port": 5672, "vhost": "{name}", "username": "app"},
    ),
    ClaimKind(
        "platform.acme.dev",
        "v1alpha1",
        "objectbuckets",
        connection={
            "access_key_id": "AKIA{name}",
            "secret_key": "sk-{name}",
            "aws_access_key_id": "AKIA{name}",
            "aws_secret_key": "sk-{name}",
        },
        status={
            "bucket": "{name}",
            "region": "eu-west-1",
            "endpoint": "https://s3.eu-west-1.internal",
        },
    ),
]


def main() -> None:
    """Run the composer for the example claim kinds until interrupted (used by make dev)."""
    import argparse
    import signal

    from kubernetes import config as k8s_config

    parser = argparse.ArgumentParser(
        description="A test-only stand-in for Crossplane: marks the example claims Ready and "
        "writes their connection Secrets. Never run it against a real cluster."
    )
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    composer = TestOnlyComposer(ApiClient(configuration), EXAMPLE_KINDS)
    composer.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    composer.stop()


if __name__ == "__main__":
    main()
