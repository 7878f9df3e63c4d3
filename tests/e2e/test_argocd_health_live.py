"""Argo CD's view of objects the real operator just reconciled: the Lua health checks
shipped in the chart, run on live statuses."""

from __future__ import annotations

from typing import Any

from tests.kubeutil import Berth, wait_for, workload_body
from tests.unit.test_argocd_health import health_of


def test_health_of_live_workloads_and_environment(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("healthy"))
    berth.wait_condition(namespace, "healthy", "Ready", "True")
    assert health_of(berth.workload(namespace, "healthy"))["status"] == "Healthy"

    # Stalled by a policy that tightened under it (a new one is refused at admission).
    berth.create_workload(namespace, workload_body("broken", replicas=3))
    berth.patch_environment(environment, {"spec": {"policy": {"maxReplicas": 2}}})
    stalled = berth.wait_condition(
        namespace, "broken", "Stalled", "True", reason="ReplicasAboveLimit"
    )
    health = health_of(berth.workload(namespace, "broken"))
    assert health["status"] == "Degraded"
    assert stalled["message"] in health["message"]

    # A new generation the operator has not looked at yet is Progressing, whatever the
    # status of the previous one said.
    live = berth.workload(namespace, "healthy")
    live["metadata"]["generation"] = live["status"]["observedGeneration"] + 1
    assert health_of(live)["status"] == "Progressing"

    # The Environment's policy changed above: once Berth has observed that generation
    # (until then its health is rightly Progressing), it is Healthy.
    def observed() -> dict[str, Any] | None:
        env = berth.environment(environment)
        status = env.get("status") or {}
        return env if status.get("observedGeneration") == env["metadata"]["generation"] else None

    env = wait_for(observed, 15, f"Environment {environment}'s new generation observed")
    assert health_of(env)["status"] == "Healthy"
