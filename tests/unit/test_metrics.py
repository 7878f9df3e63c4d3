"""The SLO metrics (berth.metrics): bounded labels, zero-initialised label sets, the
generation clock, the condition gauge, provisioning failures, reconcile errors, and the
work queue's adds, retries and wait time."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from prometheus_client import REGISTRY

from berth import metrics
from berth.handlers.queue import WorkQueue
from berth.kube.client import ApiError, Unreachable
from tests.unit.builders import NAMESPACE, workload_dict


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def series(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of one metric, by its label set."""
    found = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def body(generation: int, observed: int | None = None, ready: bool | None = None) -> dict[str, Any]:
    workload = workload_dict("shop")
    workload["metadata"]["generation"] = generation
    if observed is not None:
        status: dict[str, Any] = {"observedGeneration": observed}
        if ready is not None:
            status["conditions"] = [
                {
                    "type": "Ready",
                    "status": str(ready),
                    "reason": "Ready" if ready else "RollingOut",
                    "observedGeneration": observed,
                }
            ]
        workload["status"] = status
    return workload


def histogram_count(name: str) -> float:
    return sample(f"{name}_count")


OBSERVED = "berth_workload_generation_observed_duration_seconds"
READY = "berth_workload_generation_ready_duration_seconds"


def test_a_new_generation_is_timed_to_observed_and_to_ready() -> None:
    clock = Clock()
    generations = metrics.GenerationClock(clock)
    key = (NAMESPACE, "shop")
    observed0, ready0 = histogram_count(OBSERVED), histogram_count(READY)
    sum0 = sample(f"{READY}_sum")
    generations.saw(key, body(1), record=True)  # created: no status yet
    clock.now += 2
    generations.saw(key, body(1, observed=1, ready=False), record=True)
    assert histogram_count(OBSERVED) == observed0 + 1
    assert histogram_count(READY) == ready0
    clock.now += 3
    generations.saw(key, body(1, observed=1, ready=True), record=True)
    generations.saw(key, body(1, observed=1, ready=True), record=True)  # a resync: not again
    assert histogram_count(READY) == ready0 + 1
    assert sample(f"{READY}_sum") == pytest.approx(sum0 + 5)
    # An edit: generation 2, timed from its first sight.
    clock.now += 100
    generations.saw(key, body(2, observed=1, ready=True), record=True)
    clock.now += 1
    generations.saw(key, body(2, observed=2, ready=True), record=True)
    assert histogram_count(OBSERVED) == observed0 + 2
    assert histogram_count(READY) == ready0 + 2
    assert sample(f"{READY}_sum") == pytest.approx(sum0 + 6)
    generations.forget(key)
    assert len(generations) == 0


def test_a_generation_observed_before_it_was_first_seen_is_not_timed() -> None:
    """At start-up every Workload is seen for the first time: what the operator did not
    see change is not timed (it would count the operator's downtime)."""
    generations = metrics.GenerationClock(Clock())
    before = histogram_count(OBSERVED), histogram_count(READY)
    generations.saw(("a", "b"), body(3, observed=3, ready=False), record=True)
    generations.saw(("a", "b"), body(3, observed=3, ready=True), record=True)
    assert (histogram_count(OBSERVED), histogram_count(READY)) == before


def test_only_the_replica_that_reconciles_a_workload_records_it() -> None:
    generations = metrics.GenerationClock(Clock())
    before = histogram_count(OBSERVED), histogram_count(READY)
    generations.saw(("a", "b"), body(1), record=False)
    generations.saw(("a", "b"), body(1, observed=1, ready=True), record=False)
    assert (histogram_count(OBSERVED), histogram_count(READY)) == before


def test_a_stalled_generation_never_counts_as_ready() -> None:
    generations = metrics.GenerationClock(Clock())
    before = histogram_count(READY)
    generations.saw(("a", "s"), body(1), record=True)
    generations.saw(("a", "s"), body(1, observed=1, ready=False), record=True)
    # Ready=True said for an older generation is not this one's.
    stale = body(2, observed=2, ready=True)
    stale["status"]["conditions"][0]["observedGeneration"] = 1
    generations.saw(("a", "s"), body(2), record=True)
    generations.saw(("a", "s"), stale, record=True)
    assert histogram_count(READY) == before


def condition(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason}


def counted(environment: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {"status": {"environment": environment, "conditions": list(conditions)}}


def test_workloads_are_counted_by_environment_condition_and_reason() -> None:
    stalled = condition("Stalled", "True", "ImageNotAllowed")
    not_ready = condition("Ready", "False", "ImageNotAllowed")
    ready = condition("Ready", "True", "Ready")
    bodies = [
        counted("dev", not_ready, stalled),
        counted("dev", not_ready, stalled),
        counted("dev", ready),
        counted("prod", ready),
        {"metadata": {}},  # never reconciled: counted as not ready, under no condition
    ]
    labels = metrics.count_workloads(bodies, set())
    assert sample("berth_workloads", ready="true") == 2
    assert sample("berth_workloads", ready="false") == 3
    conditions = "berth_workload_conditions"
    assert sample(conditions, environment="dev", condition="Stalled", status="True",
                  reason="ImageNotAllowed") == 2  # fmt: skip
    assert sample(conditions, environment="prod", condition="Ready", status="True",
                  reason="Ready") == 1  # fmt: skip
    assert len(labels) == 4
    # The stall is fixed and prod is gone: their label sets go, not stay at a stale value.
    metrics.count_workloads([counted("dev", ready), counted("dev", ready)], labels)
    remaining = {dict(k)["environment"] + "/" + dict(k)["condition"] for k in series(conditions)}
    assert remaining == {"dev/Ready"}
    assert sample(conditions, environment="dev", condition="Ready", status="True",
                  reason="Ready") == 2  # fmt: skip
    metrics.count_workloads([], {("dev", "Ready", "True", "Ready")})
    assert series(conditions) == {}


def test_provisioning_failures_are_counted_when_a_resource_turns_failed() -> None:
    def entry(name: str, state: str, reason: str) -> dict[str, str]:
        return {"name": name, "type": "postgres", "state": state, "reason": reason}

    def failures(reason: str) -> float:
        return sample("berth_provisioning_failures_total", type="postgres", reason=reason)

    before = failures("NoProvisioner"), failures("ParamNotAllowed")
    failed = [entry("db", "Failed", "NoProvisioner"), entry("cache", "Pending", "ClaimPending")]
    metrics.count_provisioning_failures(failed, [])
    metrics.count_provisioning_failures(failed, failed)  # still failing: not counted again
    again = [entry("db", "Failed", "ParamNotAllowed")]
    metrics.count_provisioning_failures(again, failed)  # a new reason: counted
    assert (failures("NoProvisioner"), failures("ParamNotAllowed")) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_reconcile_errors_have_a_reason_from_a_fixed_list() -> None:
    assert metrics.reconcile_error_reason(ApiError(403, "Forbidden", "no")) == "Forbidden"
    assert metrics.reconcile_error_reason(ApiError(409, "Conflict", "x")) == "Conflict"
    assert metrics.reconcile_error_reason(ApiError(503, "Unavailable", "x")) == "ServerError"
    assert metrics.reconcile_error_reason(ApiError(418, "Teapot", "x")) == "ClientError"
    assert metrics.reconcile_error_reason(Unreachable(0, "", "refused")) == "Unreachable"
    assert metrics.reconcile_error_reason(KeyError("spec")) == "Unexpected"
    assert metrics.reconcile_error_reason(TimeoutError()) == "Unexpected"
    before = sample("berth_reconcile_errors_total", kind="workload", reason="Forbidden")
    metrics.record_reconcile_error("workload", ApiError(403, "Forbidden", "no"))
    assert sample("berth_reconcile_errors_total", kind="workload", reason="Forbidden") == (
        before + 1
    )


def test_known_label_sets_exist_before_anything_happens() -> None:
    """A dashboard panel or an alert's ratio over these has data from the first scrape."""
    errors = series("berth_reconcile_errors_total")
    for kind in metrics.RECONCILE_KINDS:
        for reason in metrics.RECONCILE_ERROR_REASONS:
            assert (("kind", kind), ("reason", reason)) in errors
    reconciles = series("berth_reconciles_total")
    assert len(reconciles) >= len(metrics.RECONCILE_KINDS) * len(metrics.RECONCILE_RESULTS)
    drift = {dict(k)["kind"] for k in series("berth_drift_corrections_total")}
    assert set(metrics.CHILD_KINDS) <= drift
    for name in ("berth_workqueue_depth", "berth_shards", "berth_shards_held"):
        assert REGISTRY.get_sample_value(name) is not None, name


def test_no_metric_has_a_label_that_names_one_workload() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    bounded = {"kind", "result", "verb", "type", "cause", "ready", "shard", "event"}
    bounded |= {"reason", "environment", "condition", "status"}
    # An HTTP status code; a resource (plural) the operator reads or writes.
    bounded |= {"code", "resource"}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            assert set(value._labelnames) <= bounded, value._name
    # Labels Prometheus sets on every target would clash (and be renamed exported_*).
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            assert not {"namespace", "pod", "job", "instance"} & set(value._labelnames)


async def test_the_queue_counts_adds_retries_and_the_wait_until_a_worker_takes_a_key() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.01, clock=clock)
    adds, retries = sample("berth_workqueue_adds_total"), sample("berth_workqueue_retries_total")
    waits = histogram_count("berth_workqueue_queue_duration_seconds")
    waited = sample("berth_workqueue_queue_duration_seconds_sum")
    try:
        queue.add("a")
        queue.add("a")  # collapses into the waiting one: not an add
        clock.now += 4
        assert await queue.get() == "a"
        assert sample("berth_workqueue_adds_total") == adds + 1
        assert histogram_count("berth_workqueue_queue_duration_seconds") == waits + 1
        assert sample("berth_workqueue_queue_duration_seconds_sum") == pytest.approx(waited + 4)
        queue.done("a", failed=True)
        assert sample("berth_workqueue_retries_total") == retries + 1
        assert await asyncio.wait_for(queue.get(), 5) == "a"  # back after its delay
        assert sample("berth_workqueue_adds_total") == adds + 2
    finally:
        queue.shutdown()


async def until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_a_standby_counts_nothing_and_the_active_replica_counts_its_workloads() -> None:
    """Summed over the replicas, each Workload and each waiting key counts once."""
    from berth.handlers.keys import WorkloadKey
    from tests.fakeapi import FakeApi
    from tests.unit.test_runtime import peering, runtime

    api = FakeApi()
    ready = workload_dict("ready")
    ready["status"] = {"environment": "dev", "conditions": [condition("Ready", "True", "Ready")]}
    api.add(ready)
    api.add(workload_dict("new"))
    api.add(peering({"other": 10}))
    for standalone in (False, True):
        # Peered, a live peer outranks it: a standby for this test's length.
        rt = runtime(api, workers=1, standalone=standalone, identity="me", priority=5)
        await api.fill(rt.cache)
        rt.queue.add(WorkloadKey(NAMESPACE, "waiting"))
        metrics.WORKLOADS.labels("false").set(-1)  # not this loop's figure
        rt.start()
        try:
            if standalone:
                await until(lambda: sample("berth_workloads", ready="false") == 1)
                assert sample("berth_workloads", ready="true") == 1
                assert sample("berth_workload_conditions", environment="dev",
                              condition="Ready", status="True", reason="Ready") == 1  # fmt: skip
            else:
                await until(lambda: sample("berth_workloads", ready="false") == 0)
                assert sample("berth_workloads", ready="true") == 0
                assert sample("berth_workqueue_depth") == 0
        finally:
            await rt.stop()


def test_every_metric_is_documented_for_the_sre() -> None:
    """docs/operations/metrics.md lists every metric the operator serves, and no other."""
    from pathlib import Path

    from prometheus_client.metrics import MetricWrapperBase

    page = (Path(__file__).parents[2] / "docs" / "operations" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(berth_\w+)` \|", page, flags=re.MULTILINE))
    served = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            (family,) = value.describe()
            served.add(family.name + ("_total" if family.type == "counter" else ""))
    assert documented == served
