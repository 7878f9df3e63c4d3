"""Prometheus metrics, named by the Prometheus conventions (base units, _total counters).

Cardinality stays bounded whatever the number of Workloads: no label names one Workload.
Labels hold kinds, results, reasons (Berth's own words, reasons.py, or Kubernetes'),
resource types, shard numbers and Environment names. Every metric here is listed, with
what it answers, in docs/operations/metrics.md.

Label sets that are known in advance are created at zero when the module loads, so that a
query over them (a dashboard panel, an alert's ratio) has data before the first event.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from berth.reasons import Reason

RECONCILE_KINDS = ("workload", "environment")
RECONCILE_RESULTS = ("success", "error", "conflict", "shard_lost")
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
API_WRITE_FAILURES = Counter(
    "berth_api_write_failures_total",
    "Writes the API server refused in the end (dry runs excluded), by verb, kind and HTTP "
    "status code.",
    ["verb", "kind", "code"],
)
API_FORBIDDEN = Counter(
    "berth_api_forbidden_total",
    "Requests the API server refused with 403 Forbidden, by RBAC verb and resource.",
    ["verb", "resource"],
)
DRIFT_CORRECTIONS = Counter(
    "berth_drift_corrections_total",
    "Children found changed or deleted by someone else and set right, by kind.",
    ["kind"],
)
# The kinds of a Workload's own children (render.workload).
CHILD_KINDS = ("Deployment", "Service", "ConfigMap")
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
WATCH_AVAILABLE = Gauge(
    "berth_watch_available",
    "Whether the operator holds what the cluster has of each kind it watches (1: listed and "
    "watched) or not (0: not listed yet, or the API server refuses it: its CRD not installed, "
    "404, or RBAC, 403).",
    ["kind"],
)


def record_write(verb: str, kind: str) -> None:
    API_WRITES.labels(verb, kind).inc()


def record_write_failure(verb: str, kind: str, code: int) -> None:
    API_WRITE_FAILURES.labels(verb, kind, str(code)).inc()


def record_watch_available(kind: str, available: bool) -> None:
    WATCH_AVAILABLE.labels(kind).set(1 if available else 0)


def record_forbidden(verb: str, resource: str) -> None:
    API_FORBIDDEN.labels(verb, resource).inc()


def record_throttle(cause: str) -> None:
    API_THROTTLED.labels(cause).inc()


def record_limit(limit: float, inflight: int) -> None:
    API_CONCURRENCY_LIMIT.set(limit)
    API_INFLIGHT.set(inflight)


SHARDS_HELD = Gauge(
    "berth_shards_held", "Shards this replica holds the Lease of and reconciles (--shards)."
)
SHARDS = Gauge(
    "berth_shards",
    "Shards the Workloads are split into (--shards; 0 without sharding). "
    "sum(berth_shards_held) below it means a shard no replica reconciles.",
)


def record_shards(held: int, shards: int) -> None:
    SHARDS_HELD.set(held)
    SHARDS.set(shards)


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


# -- the work queue (handlers/queue.py) -------------------------------------------------------

WORKQUEUE_DEPTH = Gauge(
    "berth_workqueue_depth",
    "Keys waiting for a reconcile worker on this replica (0 on a standby, which works on "
    "nothing; sampled every few seconds).",
)
WORKQUEUE_ADDS = Counter(
    "berth_workqueue_adds_total", "Keys put in the work queue (repeats of a waiting key excluded)."
)
WORKQUEUE_RETRIES = Counter(
    "berth_workqueue_retries_total", "Keys put back in the work queue after a failed reconcile."
)
WORKQUEUE_WAIT = Histogram(
    "berth_workqueue_queue_duration_seconds",
    "Time a key waited in the work queue, from being added until a worker took it.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


# -- reconcile errors ---------------------------------------------------------------------

# The reasons a failed reconcile is counted under: the API server's answer as the class
# kube.client gives it (the first of these names in the exception's class hierarchy), or
# Unexpected for anything else (a bug, or a timeout). A fixed list: bounded by construction.
RECONCILE_ERROR_REASONS = (
    "BadRequest",
    "Unauthorized",
    Reason.FORBIDDEN,  # 403: the API server's word, and Berth's for the same refusal
    "NotFound",
    "Conflict",
    "Gone",
    "Invalid",
    "TooManyRequests",
    "ClientError",
    "ServerError",
    "Unreachable",
    "Unexpected",
)
RECONCILE_ERRORS = Counter(
    "berth_reconcile_errors_total",
    "Reconciles that failed and will be retried, by object kind and reason (the API "
    "server's answer, e.g. Forbidden, Conflict, ServerError, Unreachable; or Unexpected).",
    ["kind", "reason"],
)


def reconcile_error_reason(err: BaseException) -> str:
    for cls in type(err).__mro__:
        if cls.__name__ in RECONCILE_ERROR_REASONS:
            return cls.__name__
    return "Unexpected"


def record_reconcile_error(kind: str, err: BaseException) -> None:
    RECONCILE_ERRORS.labels(kind, reconcile_error_reason(err)).inc()


# -- provisioning failures ------------------------------------------------------------------

PROVISIONING_FAILURES = Counter(
    "berth_provisioning_failures_total",
    "Resources whose provisioning failed (state Failed on a Workload's status), by resource "
    "type and reason; counted when a resource turns Failed, or fails for a new reason.",
    ["type", "reason"],
)


def count_provisioning_failures(
    entries: Iterable[Mapping[str, Any]], previous: Iterable[Mapping[str, Any]]
) -> None:
    """Count the resources of one reconcile that are Failed now and were not (or failed
    for another reason) on the status it started from."""
    before = {e.get("name"): (e.get("state"), e.get("reason")) for e in previous}
    for entry in entries:
        if entry.get("state") != "Failed":
            continue
        now = ("Failed", entry.get("reason"))
        if before.get(entry.get("name")) != now:
            PROVISIONING_FAILURES.labels(str(entry.get("type")), str(entry.get("reason"))).inc()


# -- Workloads by condition, per Environment ----------------------------------------------

WORKLOAD_CONDITIONS = Gauge(
    "berth_workload_conditions",
    "Workloads by Environment and by the type, status and reason of each of their "
    "conditions (Ready, Reconciling, Stalled, InputsValid, ResourcesReady, Available), "
    "counted every few seconds among the Workloads this replica reconciles.",
    ["environment", "condition", "status", "reason"],
)

ConditionKey = tuple[str, str, str, str]


def count_workloads(
    bodies: Iterable[Mapping[str, Any]], previous: set[ConditionKey]
) -> set[ConditionKey]:
    """Set berth_workloads and berth_workload_conditions from the Workloads this replica
    reconciles; label sets counted last time and not now are removed (an Environment that
    went, a reason no Workload has any more). Returns the label sets now set."""
    ready = total = 0
    tally: Tally[ConditionKey] = Tally()
    for body in bodies:
        total += 1
        status = body.get("status") or {}
        environment = str(status.get("environment") or "")
        for cond in status.get("conditions") or []:
            key = (
                environment,
                str(cond.get("type")),
                str(cond.get("status")),
                str(cond.get("reason") or ""),
            )
            tally[key] += 1
            ready += int(key[1:3] == ("Ready", "True"))
    WORKLOADS.labels("true").set(ready)
    WORKLOADS.labels("false").set(total - ready)
    for key, count in tally.items():
        WORKLOAD_CONDITIONS.labels(*key).set(count)
    for gone in previous - tally.keys():
        WORKLOAD_CONDITIONS.remove(*gone)
    return set(tally)


# -- from a spec change to observedGeneration and to Ready -----------------------------------

GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
GENERATION_OBSERVED = Histogram(
    "berth_workload_generation_observed_duration_seconds",
    "Time from the operator first seeing a Workload's new generation (a spec change, or "
    "its creation) until its status said observedGeneration = that generation.",
    buckets=GENERATION_BUCKETS,
)
GENERATION_READY = Histogram(
    "berth_workload_generation_ready_duration_seconds",
    "Time from the operator first seeing a Workload's new generation until its status "
    "said Ready=True for that generation (generations that never got there are not counted).",
    buckets=GENERATION_BUCKETS,
)


@dataclass(slots=True)
class _Generation:
    number: int
    seen: float | None  # None: already observed when first seen, not timed
    observed: bool = False
    ready: bool = False


class GenerationClock:
    """Times each Workload's newest generation from its first sight in a watch event to
    the watch events that show it observed and Ready (our own status write coming back).

    Fed every watch event of every Workload; only the replica that reconciles a Workload
    (``record``) observes into the histograms, so a sum over replicas counts each once.
    One small entry per Workload; ``forget`` drops it when the Workload is deleted."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Hashable, _Generation] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def saw(self, key: Hashable, body: Mapping[str, Any], *, record: bool) -> None:
        number = int((body.get("metadata") or {}).get("generation") or 0)
        status = body.get("status") or {}
        observed = int(status.get("observedGeneration") or 0) >= number
        ready = observed and _ready(status, number)
        entry = self._entries.get(key)
        now = self._clock()
        if entry is None or number > entry.number:
            # A generation already observed when we first see it changed before we looked.
            entry = _Generation(number, None if observed else now)
            self._entries[key] = entry
        if entry.seen is None:
            entry.observed, entry.ready = entry.observed or observed, entry.ready or ready
            return
        if observed and not entry.observed:
            entry.observed = True
            if record:
                GENERATION_OBSERVED.observe(max(0.0, now - entry.seen))
        if ready and not entry.ready:
            entry.ready = True
            if record:
                GENERATION_READY.observe(max(0.0, now - entry.seen))

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)


def _ready(status: Mapping[str, Any], generation: int) -> bool:
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    for cond in conditions:
        if cond.get("type") == "Ready":
            return (
                cond.get("status") == "True"
                and int(cond.get("observedGeneration") or generation) >= generation
            )
    return False


def _initialise() -> None:
    """Label sets known in advance start at zero (see the module's docstring)."""
    for kind in RECONCILE_KINDS:
        for result in RECONCILE_RESULTS:
            RECONCILES.labels(kind, result)
        for reason in RECONCILE_ERROR_REASONS:
            RECONCILE_ERRORS.labels(kind, reason)
    for kind in CHILD_KINDS:
        DRIFT_CORRECTIONS.labels(kind)
    for ready in ("true", "false"):
        WORKLOADS.labels(ready)


_initialise()
