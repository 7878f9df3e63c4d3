"""The operator's settings: one dataclass, filled from `berth run` flags and BERTH_* env."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()  # empty: the whole cluster
    workers: int = 32
    # Ceilings a user may set on the API load (0: none). Below them, the requests in
    # flight follow the API server: more while it answers fast, fewer on 429s, 5xx or
    # slow answers (berth.kube.limiter).
    max_inflight: int = 0
    qps: float = 0.0
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
