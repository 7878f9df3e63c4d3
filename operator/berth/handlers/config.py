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
    # Sharding (handlers/sharding.py): 0 or 1 is off. N > 1 splits the Workloads into N
    # shards by namespace, each reconciled by the replica holding its Lease.
    shards: int = 0
    shard_namespace: str = "default"  # where the shard and member Leases live
    shard_lease_seconds: float = 15.0  # a dead replica's shards move after this
    log_writes: bool = False  # log every write of a reconcile (object, version, shard)
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def sharded(self) -> bool:
        return self.shards > 1
