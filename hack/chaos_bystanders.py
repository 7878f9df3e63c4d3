"""Two Workloads beside the chaos run's, that must never converge (issue 17):

- ``spoof``: its Service, ConfigMap and Deployment were made with kubectl and given
  Berth's two labels before it came. It must stay ``NameTaken`` through every kill and
  the API server's outage; those objects must keep their resourceVersion, selector and
  data, never gain an owner, and outlive the Workload when it is deleted at the end.
- ``minus``: its Deployment is refused by the API server (a memory limit of -5). Each
  operator process may send it once (what a process remembers goes with it); it is never
  re-sent by resyncs or wake-ups, and not at all while idle. Counted by the API server
  itself (``apiserver_request_total``, summed across its restart in the outage).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from tests.clusterharness import ClusterAccess
from tests.operatorharness import Metrics

SPOOF, MINUS = "spoof", "minus"
NAMES = frozenset({SPOOF, MINUS})
# The API server's count of the server-side applies (PATCH; APPLY in its metrics) of
# Deployments it refused as invalid, dry runs apart.
REFUSED_APPLIES = {"verb": "APPLY", "resource": "deployments", "code": "422", "dry_run": ""}
Row = Callable[[str, Any, Any, bool], None]


def workload(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@dataclass
class Bystanders:
    cluster: ClusterAccess
    namespace: str
    # What the spoofed objects were before the Workload came: by kind.
    spoofed: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused_total: float = 0.0
    refused_last: float = 0.0
    starts_at_arrival: int = 0

    def refused_count(self) -> float:
        text = self.cluster.kubectl("get", "--raw", "/metrics")
        return Metrics.parse(text).total("apiserver_request_total", **REFUSED_APPLIES)

    def count_refused(self) -> None:
        """Add what the API server counted since the last look (its count starts again
        from 0 when it restarts: call this right before it stops and once it is back)."""
        now = self.refused_count()
        self.refused_total += now - self.refused_last if now >= self.refused_last else now
        self.refused_last = now

    def arrange(self, custom: Any, operator_starts: int) -> None:
        ns = self.namespace
        kubectl = self.cluster.kubectl
        kubectl("-n", ns, "create", "service", "clusterip", SPOOF, "--tcp=83:8083")
        kubectl("-n", ns, "create", "configmap", f"{SPOOF}-files", "--from-literal=precious=yes")
        kubectl("-n", ns, "create", "deployment", SPOOF, "--image=registry.acme.dev/x:1")
        for kind, name in self.objects():
            kubectl(
                "-n",
                ns,
                "label",
                kind,
                name,
                "app.kubernetes.io/managed-by=berth",
                f"berth.dev/workload={SPOOF}",
            )
        self.spoofed = {kind: self.state(kind, name) for kind, name in self.objects()}
        files = {"/etc/app/conf": {"content": "x"}}
        spoof = {
            "containers": {"main": {"image": "registry.acme.dev/app:1.0", "files": files}},
            "service": {"ports": {"web": {"port": 80, "targetPort": 8080}}},
        }
        limits = {"limits": {"memory": "-5"}}
        minus = {
            "containers": {"main": {"image": "registry.acme.dev/app:1.0", "resources": limits}}
        }
        self.count_refused()
        self.starts_at_arrival = operator_starts
        for name, spec in ((SPOOF, spoof), (MINUS, minus)):
            custom.create_namespaced_custom_object(
                "berth.dev", "v1alpha1", ns, "workloads", workload(ns, name, spec)
            )

    @staticmethod
    def objects() -> list[tuple[str, str]]:
        return [("service", SPOOF), ("configmap", f"{SPOOF}-files"), ("deployment", SPOOF)]

    def state(self, kind: str, name: str) -> dict[str, Any] | None:
        """What must not change of a spoofed object (None: it is gone)."""
        out = self.cluster.kubectl(
            "-n", self.namespace, "get", kind, name, "-o", "json", "--ignore-not-found"
        )
        if not out.strip():
            return None
        obj = json.loads(out)
        return {
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "ownerReferences": obj["metadata"].get("ownerReferences"),
            "selector": (obj.get("spec") or {}).get("selector"),
            "data": obj.get("data"),
        }

    def changed(self) -> list[str]:
        return [
            f"{kind}/{name}"
            for kind, name in self.objects()
            if self.state(kind, name) != self.spoofed[kind]
        ]

    def check(self, custom: Any, operator_starts: int, idle_resends: float, row: Row) -> None:
        self.count_refused()
        reason = self.ready_reason(custom, SPOOF)
        row("spoofed labels: Workload NameTaken", "NameTaken", reason, reason == "NameTaken")
        changed = self.changed()
        row("spoofed labels: objects written over or owned", 0, len(changed), not changed)
        starts = operator_starts - self.starts_at_arrival + 1
        sent = int(self.refused_total)
        row(
            f"refused child: PATCHes sent ({starts} operator processes)",
            f"<= {starts}",
            sent,
            1 <= sent <= starts,
        )
        row("refused child: PATCHes re-sent while idle", 0, int(idle_resends), idle_resends == 0)
        for name in (SPOOF, MINUS):
            custom.delete_namespaced_custom_object(
                "berth.dev", "v1alpha1", self.namespace, "workloads", name
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(self.exists(custom, n) for n in NAMES):
            time.sleep(0.5)
        # What the garbage collector would take, it takes within seconds of the owner's
        # going: the objects must stay for a while after it.
        gone: set[str] = set()
        until = time.monotonic() + 5
        while time.monotonic() < until:
            gone |= {f"{k}/{n}" for k, n in self.objects() if self.state(k, n) is None}
            time.sleep(0.5)
        row("spoofed labels: objects deleted with the Workload", 0, len(gone), not gone)

    def ready_reason(self, custom: Any, name: str) -> str | None:
        body = custom.get_namespaced_custom_object(
            "berth.dev", "v1alpha1", self.namespace, "workloads", name
        )
        ready = next(
            (c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
            None,
        )
        return None if ready is None else str(ready["reason"])

    def exists(self, custom: Any, name: str) -> bool:
        try:
            custom.get_namespaced_custom_object(
                "berth.dev", "v1alpha1", self.namespace, "workloads", name
            )
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True
