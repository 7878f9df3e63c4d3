"""Prometheus metrics, named by the Prometheus conventions (base units, _total counters)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "berth_reconciles_total", "Reconciles finished, by object kind and result.", ["kind", "result"]
)
RECONCILE_DURATION = Histogram(
    "berth_reconcile_duration_seconds",
    "Time spent in one reconcile, by object kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_WRITES = Counter(
    "berth_api_writes_total",
    "Requests that changed something on the API server (dry runs excluded), by verb and kind.",
    ["verb", "kind"],
)
DRIFT_CORRECTIONS = Counter(
    "berth_drift_corrections_total",
    "Children found changed or deleted by someone else and set right, by kind.",
    ["kind"],
)
PROVISIONING_DURATION = Histogram(
    "berth_provisioning_duration_seconds",
    "Time from a resource's first object being created until its outputs were ready, by type.",
    ["type"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
API_THROTTLED = Counter(
    "berth_api_throttled_total",
    "Signs that the API server is loaded, by cause: throttled (a 429 from API Priority and "
    "Fairness), server_error (5xx or no answer), latency (answers far slower than usual).",
    ["cause"],
)
API_CONCURRENCY_LIMIT = Gauge(
    "berth_api_concurrency_limit", "API requests the operator lets be in flight at once, now."
)
API_INFLIGHT = Gauge("berth_api_inflight_requests", "API requests in flight now.")
WORKLOADS = Gauge("berth_workloads", "Workloads known to the operator, by Ready state.", ["ready"])


def record_write(verb: str, kind: str) -> None:
    API_WRITES.labels(verb, kind).inc()


def record_throttle(cause: str) -> None:
    API_THROTTLED.labels(cause).inc()


def record_limit(limit: float, inflight: int) -> None:
    API_CONCURRENCY_LIMIT.set(limit)
    API_INFLIGHT.set(inflight)


SHARDS_HELD = Gauge(
    "berth_shards_held", "Shards this replica holds the Lease of and reconciles (--shards)."
)
SHARD_WRITES = Counter(
    "berth_shard_writes_total",
    "Writes made by reconciles, by the shard of the reconciled object (--shards).",
    ["shard"],
)
SHARD_TRANSITIONS = Counter(
    "berth_shard_transitions_total",
    "Shards this replica acquired, released (its fair share shrank, or it stopped) or lost "
    "(its Lease could not be renewed in time), by event.",
    ["event"],
)
