"""Required and optional kinds (berth.handlers.informers, berth.handlers.watch.WATCHED):
the start waits for every required kind and for no optional one; a kind the API server
refuses (404: not served, 403: forbidden) is said once at error with its fix, shown by
``berth_watch_available``, retried, and taken up when it can be listed; readers that
would act on an optional kind's empty store ask whether it is known first.

A scripted API server stands in for the wire here (what it serves and refuses is the
test's); tests/e2e/test_watch_optional.py runs the operator on the real one with the
Promotion CRD missing, then installed."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from berth.handlers import informers as informers_module
from berth.handlers.cache import PROMOTIONS, Cache
from berth.handlers.informers import Watches, unavailable_message
from berth.handlers.watch import API_VERSION, WATCHED
from berth.kube import informer as informer_module
from berth.kube.client import ApiError, ResourceInfo
from berth.kube.informer import Event, Informer, Source, Store
from berth.promotion.progress import waiting_for_approval
from tests.unit.pipeline_world import API, DIGEST, Pipeline

REPO = Path(__file__).parents[2]
CLUSTER_SCOPED = {"Environment", "ClusterProvisioner"}
OPTIONAL = {"Preview", "Promotion", "PromotionApproval"}


class Served:
    """An API server of the watched kinds: lists what ``objects`` holds of each kind,
    refuses the kinds in ``refused`` (404: not served; 403: forbidden), and its watches
    say nothing (or fail, once each, with what ``watch_errors`` holds for the kind)."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}
        self.refused: dict[str, int] = {}
        self.watch_errors: dict[str, list[Exception]] = {}
        self.listings: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()  # listings and watches tried, refused or not

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        if self.refused.get(kind) == 404:
            raise ApiError(404, "NotFound", f"the API server does not serve kind {kind}")
        return ResourceInfo(api_version, kind, f"{kind.lower()}s", kind not in CLUSTER_SCOPED)

    async def path_for(self, api_version: str, kind: str, namespace: str | None = None) -> str:
        self.attempts[kind] += 1
        await self.resource_info(api_version, kind)
        return kind

    async def request(self, method: str, path: str, *, params: Mapping[str, str]) -> Any:
        if self.refused.get(path) == 403:
            raise ApiError(403, "Forbidden", f"cannot list resource {path.lower()}s")
        self.listings[path] += 1
        items = copy.deepcopy(self.objects.get(path, []))
        return {"items": items, "metadata": {"resourceVersion": "7"}}

    async def watch_stream(
        self, path: str, params: Mapping[str, str], *, idle_seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        errors = self.watch_errors.get(path) or []
        if errors:
            raise errors.pop(0)
        await asyncio.Event().wait()  # a watch with nothing to say
        yield {}  # never reached: makes this a stream


def promotion(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Promotion",
        "metadata": {"name": name, "namespace": "prod", "resourceVersion": "5"},
        "spec": {"workload": "checkout", "from": "dev"},
    }


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def gauge(kind: str) -> float | None:
    return REGISTRY.get_sample_value("berth_watch_available", {"kind": kind})


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The informers' backoff, in milliseconds rather than seconds.
    monkeypatch.setattr(informer_module, "RETRY_SECONDS", (0.002, 0.01))
    monkeypatch.setattr(informers_module, "RETRY_SECONDS", (0.002, 0.01))


def watches_of(served: Served, told: list[tuple[str, Event]], **kwargs: Any) -> Watches:
    return Watches(
        served,  # type: ignore[arg-type]
        WATCHED,
        lambda watched, event: told.append((watched.name, event)),
        **kwargs,
    )


# -- which kinds are which ---------------------------------------------------------------


def crd(resource: str) -> dict[str, Any]:
    plural, group = resource.split(".", 1)
    body: dict[str, Any] = yaml.safe_load((REPO / "crds" / f"{group}_{plural}.yaml").read_text())
    return body


def test_the_features_kinds_are_optional_and_those_berth_works_with_required() -> None:
    assert {w.kind for w in WATCHED if w.optional} == OPTIONAL
    assert {w.kind for w in WATCHED if not w.optional} == {
        "Workload",
        "Environment",
        "ClusterProvisioner",
        "Deployment",
        "Service",
        "ConfigMap",
        "Pod",
    }
    # What the messages name is what the CRDs define; the optional kinds are namespaced
    # (Watches takes one it cannot discover yet as namespaced, under --namespace).
    for watched in WATCHED:
        if watched.api_version == API_VERSION:
            names = crd(watched.resource)["spec"]["names"]
            assert (names["kind"], f"{names['plural']}.berth.dev") == (
                watched.kind,
                watched.resource,
            )
        if watched.optional:
            assert crd(watched.resource)["spec"]["scope"] == "Namespaced"
    assert {w.resource for w in WATCHED if w.api_version in ("v1", "apps/v1")} == {
        "deployments.apps",
        "services",
        "configmaps",
        "pods",
    }


def test_the_message_names_the_kind_the_reason_and_the_fix() -> None:
    promotion_kind = next(w for w in WATCHED if w.kind == "Promotion")
    workload_kind = next(w for w in WATCHED if w.kind == "Workload")
    pods = next(w for w in WATCHED if w.kind == "Pod")
    missing = unavailable_message(promotion_kind, ApiError(404, "NotFound", "not served"))
    assert missing.startswith("cannot list Promotion (promotions.berth.dev): ")
    assert "404 NotFound" in missing
    assert "CRD promotions.berth.dev is not installed" in missing
    assert "crds/" in missing
    assert "runs without it" in missing
    forbidden = unavailable_message(workload_kind, ApiError(403, "Forbidden", "no, you may not"))
    assert "(403 Forbidden: no, you may not)" in forbidden
    assert "grant list and watch on workloads.berth.dev" in forbidden
    assert "cannot work without Workload objects" in forbidden
    unreachable = unavailable_message(pods, ApiError(0, "Unreachable", "connection refused"))
    assert "connection refused" in unreachable
    assert "cannot work without Pod" in unreachable
    assert "CRD" not in unavailable_message(pods, ApiError(404, "NotFound", "not served"))


# -- the start ---------------------------------------------------------------------------


async def test_an_optional_kind_not_served_holds_nothing_up_and_is_taken_up_once_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    served.refused["Promotion"] = 404
    told: list[tuple[str, Event]] = []
    watches = watches_of(served, told)
    caplog.set_level(logging.INFO, logger="berth")
    try:
        await asyncio.wait_for(watches.start(), 5)  # not waiting for Promotions
        assert watches.available("workloads")
        assert watches.available("previews")
        assert not watches.available("promotions")
        assert (gauge("Promotion"), gauge("Workload"), gauge("Preview")) == (0, 1, 1)
        # It keeps trying, and says so once at error, not once per try.
        await until(lambda: served.attempts["Promotion"] >= 4, "a few more tries")
        (said,) = errors(caplog)
        assert said.startswith("cannot list Promotion (promotions.berth.dev)")
        assert "the CRD promotions.berth.dev is not installed" in said

        # The CRD installed: its objects come in, as a first listing's, and are told.
        served.objects["Promotion"] = [promotion("p1")]
        del served.refused["Promotion"]
        await until(lambda: watches.available("promotions"), "Promotions listed")
        assert watches.stores["promotions"].get(("prod", "p1")) is not None
        assert [(e.type, e.key, e.listed) for n, e in told if n == "promotions"] == [
            ("ADDED", ("prod", "p1"), True)
        ]
        assert gauge("Promotion") == 1
        assert len(errors(caplog)) == 1
        assert "Promotion (promotions.berth.dev): listed, 1 objects" in caplog.text
    finally:
        await watches.stop()


async def test_a_forbidden_optional_kind_says_whom_to_grant_what(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    served.refused["PromotionApproval"] = 403
    watches = watches_of(served, [])
    try:
        await asyncio.wait_for(watches.start(), 5)
        assert not watches.available("promotionapprovals")
        await until(lambda: served.attempts["PromotionApproval"] >= 3, "a few more tries")
        (said,) = errors(caplog)
        assert "cannot list PromotionApproval (promotionapprovals.berth.dev)" in said
        assert "403 Forbidden" in said
        assert "grant list and watch on promotionapprovals.berth.dev" in said
        del served.refused["PromotionApproval"]  # granted
        await until(lambda: watches.available("promotionapprovals"), "approvals listed")
        assert gauge("PromotionApproval") == 1
    finally:
        await watches.stop()


async def test_a_required_kind_not_served_holds_the_start_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    served.refused["Workload"] = 404
    watches = watches_of(served, [])
    starting = asyncio.create_task(watches.start())
    try:
        await until(lambda: served.attempts["Workload"] >= 4, "a few tries")
        assert not starting.done()  # nothing can be done without Workloads
        assert gauge("Workload") == 0
        (said,) = errors(caplog)
        assert said.startswith("cannot list Workload (workloads.berth.dev)")
        assert "cannot work without Workload objects" in said
        del served.refused["Workload"]
        await asyncio.wait_for(starting, 5)
        assert watches.available("workloads")
        assert gauge("Workload") == 1
        assert len(errors(caplog)) == 1
    finally:
        starting.cancel()
        await watches.stop()


async def test_a_required_kind_failing_for_another_reason_says_so_while_it_holds_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    # The first listing of Environments meets an API server that cannot be reached.
    failed_once = False
    listing = served.request

    async def flaky(method: str, path: str, *, params: Mapping[str, str]) -> Any:
        nonlocal failed_once
        if path == "Environment" and not failed_once:
            failed_once = True
            raise ApiError(0, "Unreachable", "connection refused")
        return await listing(method, path, params=params)

    served.request = flaky  # type: ignore[method-assign]
    # Once listed, its first watch fails too.
    served.watch_errors["Environment"] = [ApiError(0, "Unreachable", "connection reset")]
    watches = watches_of(served, [])
    try:
        await asyncio.wait_for(watches.start(), 5)
        (said,) = errors(caplog)
        assert said.startswith("cannot list Environment (environments.berth.dev)")
        assert "connection refused" in said
        # Listed, the failed watch is the informer's warning, not an error: watched again.
        await until(lambda: served.attempts["Environment"] >= 4, "the watch again")
        assert "connection reset" in caplog.text
        assert len(errors(caplog)) == 1
        assert watches.available("environments")
    finally:
        await watches.stop()


async def test_an_optional_kind_discovery_does_not_know_is_watched_in_each_namespace_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    served.refused["Preview"] = 404
    watches = watches_of(served, [], namespaces=("team-a", "team-b"))
    try:
        await asyncio.wait_for(watches.start(), 5)
        where = {i.source.namespace for i in watches._cluster if i.source.kind == "Preview"}
        assert where == {"team-a", "team-b"}
        # One error for the kind, not one per namespace nor one per try.
        await until(lambda: served.attempts["Preview"] >= 6, "a few tries")
        (said,) = errors(caplog)
        assert said.startswith("cannot list Preview (previews.berth.dev)")
        del served.refused["Preview"]
        await until(lambda: watches.available("previews"), "Previews listed")
    finally:
        await watches.stop()


async def test_a_required_kind_discovery_does_not_know_is_waited_for_under_namespace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = Served()
    served.refused["Workload"] = 404
    watches = watches_of(served, [], namespaces=("team-a",))
    starting = asyncio.create_task(watches.start())
    try:
        await until(lambda: len(errors(caplog)) == 1, "the error")
        assert "cannot list Workload" in errors(caplog)[0]
        assert not starting.done()
        del served.refused["Workload"]
        await asyncio.wait_for(starting, 30)
        where = {i.source.namespace for i in watches._cluster if i.source.kind == "Workload"}
        assert where == {"team-a"}
    finally:
        starting.cancel()
        await watches.stop()


# -- one informer's refusals ---------------------------------------------------------------


def promotions_informer(served: Served, states: list[Exception | None]) -> Informer:
    return Informer(
        served,  # type: ignore[arg-type]
        Source(API_VERSION, "Promotion"),
        Store(),
        on_state=lambda _, error: states.append(error),
    )


async def test_a_kind_no_longer_served_after_its_listing_is_listed_anew() -> None:
    served = Served()
    served.objects["Promotion"] = [promotion("p1")]
    # Its CRD deleted (and installed again): the watch ends with a 404.
    served.watch_errors["Promotion"] = [ApiError(404, "NotFound", "the server could not")]
    states: list[Exception | None] = []
    informer = promotions_informer(served, states)
    informer.start()
    try:
        # Served again, everything of it is new: listed, not resumed from where it was.
        await until(lambda: served.listings["Promotion"] == 2, "a listing after the 404")
        await until(lambda: informer.available, "available again")
        assert [getattr(e, "status", e) for e in states] == [None, 404, None]
    finally:
        await informer.stop()


async def test_a_refused_watch_ends_its_refusal_with_the_next_event_it_brings() -> None:
    served = Served()
    states: list[Exception | None] = []
    informer = promotions_informer(served, states)
    await informer.relist()
    informer.refusal = ApiError(403, "Forbidden", "not now")
    assert not informer.available
    informer.handle({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
    assert informer.available
    assert states == [None, None]  # listed; the refusal over


# -- readers of an optional kind's store ----------------------------------------------------


async def test_no_revision_is_collected_while_promotions_cannot_be_listed() -> None:
    world = Pipeline()
    ns = "dev"
    world.add_environment(ns, promotion={"revisionHistoryLimit": 2})
    world.add_workload("checkout", ns)
    await world.make_ready("checkout", ns, f"r/x@{DIGEST}")
    await world.record("checkout", ns)
    cache = world.world.runtime.cache
    # A Promotion may be applying revision 1 right now: the operator cannot tell.
    cache.attach({}, available=lambda name: name != PROMOTIONS)
    for replicas in (2, 3):
        world.edit("checkout", ns, replicas=replicas)
        await world.make_ready("checkout", ns)
        await world.record("checkout", ns)
    names = [r["metadata"]["name"] for r in world.revisions(ns)]
    assert names == ["checkout-r1", "checkout-r2", "checkout-r3"]
    assert not [w for w in world.api.written() if w[0] == "delete"]
    # Promotions known again (none under way): the next revision recorded collects.
    cache.attach({}, available=lambda name: True)
    world.edit("checkout", ns, replicas=4)
    await world.make_ready("checkout", ns)
    await world.record("checkout", ns)
    assert [r["metadata"]["name"] for r in world.revisions(ns)] == ["checkout-r3", "checkout-r4"]


async def test_a_promotion_waiting_for_approval_says_when_approvals_cannot_be_read() -> None:
    world = Pipeline()
    world.add_environment("dev")
    world.add_environment("prod", promotion={"requireApproval": True})
    world.add_workload("checkout", "dev")
    await world.make_ready("checkout", "dev", f"r/x@{DIGEST}")
    await world.record("checkout", "dev")
    world.add_promotion("p1", "prod", **{"from": "dev"})
    world.world.runtime.cache.attach({}, available=lambda name: name != "promotionapprovals")
    await world.promote("p1", "prod")
    phase, reason, message = world.ready("p1", "prod")
    assert (phase, reason) == ("WaitingForApproval", "AwaitingApproval")
    assert message == waiting_for_approval("prod", approvals_known=False).message
    assert "cannot list PromotionApprovals now" in message
    assert world.api.stored(API, "Workload", "checkout", "prod") is None  # nothing written
    assert "cannot list" not in waiting_for_approval("prod").message


def test_a_cache_without_watches_knows_every_kind() -> None:
    # The unit tests' caches (FakeApi.fill), over stores that hold every kind.
    assert Cache().available(PROMOTIONS)


def test_a_kind_not_watched_yet_is_not_available() -> None:
    watches = watches_of(Served(), [])
    assert not watches.available("workloads")  # not started
    assert not watches.available("nothing")  # not a kind it watches
