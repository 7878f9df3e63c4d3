"""The operator's settings: one dataclass, filled from `berth run` flags and BERTH_* env."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()  # empty: the whole cluster
    workers: int = 4
    qps: float = 20.0
    burst: int = 40
    resync_seconds: float = 300.0
    metrics_port: int = 8080
    health_port: int = 8081
    standalone: bool = True
    peering: str = "berth"
    priority: int = 0
    peering_lifetime: int = 60
    identity: str = ""  # this replica's identity in the peering (kopf's, passed to it)
    log_format: str = "text"
    log_level: str = "INFO"
