"""The preview controllers' decisions, on the fake API (the behaviour on the real API
server: tests/e2e/test_previews.py)."""

from __future__ import annotations

import copy
from typing import Any

from berth.handlers import preview_request, previews
from berth.handlers.keys import PreviewKey
from berth.handlers.workload_facts import resolve_environment
from berth.kube import copies as kube_copies
from berth.names import COPY_OF_LABEL, PREVIEW_FIELD_MANAGER
from berth.preview.copies import copy_manifest
from berth.preview.teardown import POLL_SECONDS
from tests.unit.builders import NAMESPACE, workload_dict
from tests.unit.world import World

BASE = NAMESPACE
PREVIEW = f"{BASE}-pr-1"
CI = {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"}
API = "berth.dev/v1alpha1"


def request(name: str = "pr-1", age: float = 30, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Preview",
        "metadata": {"name": name, "namespace": BASE},
        "spec": spec,
    }


def base_world(**previews_policy: Any) -> World:
    world = World()
    world.add_environment(
        previews={"creators": [CI], **previews_policy},
        policy={"podSecurity": "baseline"},
        defaults={"replicas": 2},
    )
    for name in ("cart", "web"):
        world.add_workload(name)
    return world


async def reconcile_request(world: World, name: str = "pr-1") -> float | None:
    await world.sync()
    world.api.forget_history()
    return await preview_request.reconcile(world.context, PreviewKey(BASE, name))


def stored(world: World, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    api_version = {"Namespace": "v1", "RoleBinding": "rbac.authorization.k8s.io/v1"}.get(kind, API)
    body = world.api.stored(api_version, kind, name, namespace)
    assert body is not None, f"{kind} {name} is not there"
    return body


def ready(body: dict[str, Any]) -> tuple[str, str]:
    cond = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    return cond["status"], cond["reason"]


async def made(world: World, **spec: Any) -> World:
    """A Preview, its Environment, and one reconcile of that Environment."""
    world.add(request(**spec))
    await reconcile_request(world)
    await world.reconcile_environment(PREVIEW)
    return world


async def test_a_preview_request_makes_its_environment_which_makes_the_preview() -> None:
    world = await made(base_world(), ttl="2h")
    env = stored(world, "Environment", PREVIEW)
    assert env["spec"] == {
        "type": "preview",
        "namespace": PREVIEW,
        "preview": {"base": BASE, "ttl": "2h"},
    }
    namespace = stored(world, "Namespace", PREVIEW)
    assert namespace["metadata"]["labels"]["berth.dev/preview-of"] == BASE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespace["metadata"]["annotations"]["berth.dev/created-by"] == PREVIEW
    editors = stored(world, "RoleBinding", "berth-preview-editors", PREVIEW)
    assert editors["roleRef"]["name"] == "berth-preview-editor"
    assert editors["subjects"] == [CI]
    copies = {w["metadata"]["name"]: w for w in world.api.of_kind("Workload", PREVIEW)}
    assert set(copies) == {"cart", "web"}
    assert copies["cart"]["metadata"]["labels"][COPY_OF_LABEL] == BASE
    preview = stored(world, "Environment", PREVIEW)["status"]["preview"]
    assert preview["copies"] == ["cart", "web"]
    assert preview["expiresAt"] == "2026-01-01T14:00:00Z"  # created now, + 2h
    # The Preview says what its Environment says.
    await reconcile_request(world)
    status = stored(world, "Preview", "pr-1", BASE)["status"]
    assert status["namespace"] == PREVIEW
    assert status["expiresAt"] == "2026-01-01T14:00:00Z"
    # The base's creators may ask for previews in its namespace.
    await world.reconcile_environment(BASE)
    requesters = stored(world, "RoleBinding", "berth-preview-requesters", BASE)
    assert requesters["roleRef"]["name"] == "berth-preview-requester"
    assert stored(world, "Environment", BASE)["status"]["previews"] == 1


async def test_a_preview_runs_its_workloads_under_its_base() -> None:
    world = await made(base_world())
    await world.sync()
    copy_body = world.runtime.cache.workload(PREVIEW_KEY)
    assert copy_body is not None
    name, env, problem = resolve_environment(world.runtime.cache, copy_body)
    assert (name, problem) == (PREVIEW, None)
    assert env is not None
    assert env["spec"]["defaults"] == {"replicas": 2}
    assert env["spec"]["policy"] == {"podSecurity": "baseline"}
    # Its base gone: its Workloads stall, saying so; what runs is not touched.
    world.api.remove(API, "Environment", BASE)
    await world.sync()
    _, env, problem = resolve_environment(world.runtime.cache, copy_body)
    assert problem is not None
    assert problem.reason == "BaseNotFound"
    assert env is not None
    assert "defaults" not in env["spec"]


PREVIEW_KEY = __import__("berth.handlers.keys", fromlist=["WorkloadKey"]).WorkloadKey(
    PREVIEW, "cart"
)


async def test_the_requests_refusals() -> None:
    lonely = World()
    lonely.add(request())
    await reconcile_request(lonely)
    assert ready(stored(lonely, "Preview", "pr-1", BASE)) == ("False", "BaseNotFound")

    closed = World()
    closed.add_environment()
    closed.add(request())
    await reconcile_request(closed)
    assert ready(stored(closed, "Preview", "pr-1", BASE)) == ("False", "PreviewsNotAllowed")
    assert closed.api.stored(API, "Environment", PREVIEW) is None

    capped = base_world(maxTTL="1h")
    capped.add(request(ttl="2h"))
    await reconcile_request(capped)
    assert ready(stored(capped, "Preview", "pr-1", BASE)) == ("False", "TTLTooLong")

    taken = base_world()
    other = copy.deepcopy(stored(taken, "Environment", BASE))
    other["metadata"] = {"name": PREVIEW}
    other["spec"] = {"type": "development", "namespace": "elsewhere"}
    taken.add(other)
    taken.add(request())
    await reconcile_request(taken)
    body = stored(taken, "Preview", "pr-1", BASE)
    assert ready(body) == ("False", "PreviewNameTaken")
    assert stored(taken, "Environment", PREVIEW)["spec"]["namespace"] == "elsewhere"


async def test_the_quota_makes_a_preview_wait_its_turn() -> None:
    world = base_world(maxCount=1, maxTTL="2h")
    # Refused for its own reason, an older Preview holds no place in the queue.
    world.add(request("too-long", ttl="3h"), age=30)
    world.add(request("pr-1"), age=20)
    world.add(request("pr-2"), age=10)
    await reconcile_request(world, "pr-2")
    assert ready(stored(world, "Preview", "pr-2", BASE)) == ("False", "PreviewQuotaExceeded")
    await reconcile_request(world, "pr-1")
    assert world.api.stored(API, "Environment", PREVIEW) is not None
    await reconcile_request(world, "pr-2")
    assert world.api.stored(API, "Environment", f"{BASE}-pr-2") is None


async def test_deleting_a_preview_deletes_its_environment_and_waits_for_it() -> None:
    world = await made(base_world())
    await world.api.delete(API, "Preview", "pr-1", BASE)
    assert await reconcile_request(world) == preview_request.GONE_POLL_SECONDS
    assert ("delete", "Environment", PREVIEW) in world.written()
    assert world.api.stored(API, "Preview", "pr-1", BASE) is not None
    world.api.remove(API, "Environment", PREVIEW)
    assert await reconcile_request(world) is None
    assert world.api.stored(API, "Preview", "pr-1", BASE) is None


async def test_copies_taken_over_are_let_go_and_come_back() -> None:
    world = await made(base_world())
    cart = stored(world, "Workload", "cart", PREVIEW)
    # A server-side apply by someone else takes spec fields: Berth applies nothing.
    cart["metadata"]["managedFields"].append(
        {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
    )
    world.api.put(cart)
    # A client-side apply or an edit: Berth drops its entry.
    web = stored(world, "Workload", "web", PREVIEW)
    web["spec"]["containers"]["main"]["image"] = "registry.acme.dev/web:pr"
    web["metadata"]["managedFields"].append(
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {}}}
    )
    world.api.put(web)
    await world.reconcile_environment(PREVIEW)
    for name in ("cart", "web"):
        body = stored(world, "Workload", name, PREVIEW)
        assert PREVIEW_FIELD_MANAGER not in {
            e["manager"] for e in body["metadata"]["managedFields"]
        }
        assert COPY_OF_LABEL not in (body["metadata"].get("labels") or {})
    assert stored(world, "Workload", "web", PREVIEW)["spec"]["containers"]["main"]["image"] == (
        "registry.acme.dev/web:pr"
    )
    assert world.api.event_reasons(PREVIEW).count("CopyReplaced") == 2
    assert stored(world, "Environment", PREVIEW)["status"]["preview"]["own"] == ["cart", "web"]
    # Never written again...
    await world.reconcile_environment(PREVIEW)
    assert [w for w in world.written() if w[1] == "Workload"] == []
    # ...until it goes: the copy comes back.
    world.api.remove(API, "Workload", "web", PREVIEW)
    await world.reconcile_environment(PREVIEW)
    assert stored(world, "Workload", "web", PREVIEW)["metadata"]["labels"][COPY_OF_LABEL] == BASE
    assert "CopyRestored" in world.api.event_reasons(PREVIEW)


async def test_copies_follow_the_base_and_the_selection() -> None:
    world = await made(base_world())
    world.edit_workload("web", containers={"main": {"image": "registry.acme.dev/web:2"}})
    await world.reconcile_environment(PREVIEW)
    image = stored(world, "Workload", "web", PREVIEW)["spec"]["containers"]["main"]["image"]
    assert image == "registry.acme.dev/web:2"
    world.api.edit(
        API, "Environment", PREVIEW, None, {"spec": {"preview": {"copyWorkloads": ["web"]}}}
    )
    await world.reconcile_environment(PREVIEW)
    assert ("delete", "Workload", "cart") in world.written()


async def test_a_base_in_another_shard_is_no_base_without_workloads() -> None:
    """With --shards, a replica that does not hold the base's namespace has none of its
    Workloads: it leaves the copies as they are (and says what it said), never deleting
    them as copies of nothing."""
    world = await made(base_world())
    before = stored(world, "Environment", PREVIEW)["status"]["preview"]
    world.context.holds_namespace = lambda namespace: namespace != BASE
    world.edit_workload("web", containers={"main": {"image": "registry.acme.dev/web:2"}})
    world.api.forget_history()
    await world.reconcile_environment(PREVIEW)
    assert not [w for w in world.written() if w[1] == "Workload"]
    assert stored(world, "Environment", PREVIEW)["status"]["preview"] == before
    image = stored(world, "Workload", "web", PREVIEW)["spec"]["containers"]["main"]["image"]
    assert image != "registry.acme.dev/web:2"  # followed again once its holder has both


async def test_the_ttl_warns_then_expires_and_deletes_the_request() -> None:
    world = await made(base_world(expiryWarning="10m"), ttl="1h")
    world.clock.advance(55 * 60)
    assert await world.reconcile_environment(PREVIEW) == 5 * 60
    assert world.api.event_reasons(PREVIEW)[-1] == "ExpiringSoon"
    assert "ExpiringSoon" in world.api.event_reasons("pr-1")
    warned = stored(world, "Environment", PREVIEW)["status"]["preview"]["warnedFor"]
    assert warned == "2026-01-01T13:00:00Z"
    # Once only.
    await world.reconcile_environment(PREVIEW)
    assert world.api.event_reasons(PREVIEW).count("ExpiringSoon") == 1
    world.clock.advance(5 * 60)
    assert await world.reconcile_environment(PREVIEW) is None
    assert ("delete", "Preview", "pr-1") in world.written()
    assert "Expired" in world.api.event_reasons(PREVIEW)


async def test_a_change_starts_the_ttl_again_and_keep_stops_it() -> None:
    world = await made(base_world(), ttl="1h")
    world.clock.advance(30 * 60)
    own = workload_dict("extra")
    own["metadata"]["namespace"] = PREVIEW
    world.add(own)
    await world.reconcile_environment(PREVIEW)
    preview = stored(world, "Environment", PREVIEW)["status"]["preview"]
    assert preview["lastChange"] == "2026-01-01T12:30:00Z"
    assert preview["expiresAt"] == "2026-01-01T13:30:00Z"
    world.api.edit(
        API, "Environment", PREVIEW, None, {"metadata": {"annotations": {"berth.dev/keep": "true"}}}
    )
    world.clock.advance(3 * 3600)
    assert await world.reconcile_environment(PREVIEW) is None
    preview = stored(world, "Environment", PREVIEW)["status"]["preview"]
    assert preview["kept"] is True
    assert "expiresAt" not in preview


async def test_teardown_in_order() -> None:
    world = await made(base_world())
    claim = {
        "apiVersion": "platform.acme.dev/v1alpha1",
        "kind": "PostgreSQLInstance",
        "metadata": {
            "name": "db",
            "namespace": PREVIEW,
            "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/resource": "cart-db"},
        },
    }
    world.add(claim)
    cart = stored(world, "Workload", "cart", PREVIEW)
    cart["status"] = {
        "resources": [
            {
                "name": "db",
                "claim": {
                    "apiVersion": claim["apiVersion"],
                    "kind": "PostgreSQLInstance",
                    "name": "db",
                },
            }
        ]
    }
    world.api.put(cart)
    await world.api.delete(API, "Environment", PREVIEW)
    assert await world.reconcile_environment(PREVIEW) == POLL_SECONDS
    assert ("delete", "Workload", "cart") in world.written()
    assert ("delete", "PostgreSQLInstance", "db") not in world.written()
    teardown = stored(world, "Environment", PREVIEW)["status"]["teardown"]
    assert teardown["phase"] == "Workloads"
    assert teardown["objects"] == [
        {"apiVersion": claim["apiVersion"], "kind": "PostgreSQLInstance", "name": "db"}
    ]
    for name in ("cart", "web"):
        if world.api.stored(API, "Workload", name, PREVIEW) is not None:
            world.api.remove(API, "Workload", name, PREVIEW)
    # The claim: deleted, and waited for.
    assert await world.reconcile_environment(PREVIEW) == POLL_SECONDS
    assert world.api.stored(claim["apiVersion"], "PostgreSQLInstance", "db", PREVIEW) is None
    # Then the namespace; then the Environment goes.
    assert await world.reconcile_environment(PREVIEW) == POLL_SECONDS
    assert ("delete", "Namespace", PREVIEW) in world.written()
    assert await world.reconcile_environment(PREVIEW) is None
    assert world.api.stored(API, "Environment", PREVIEW) is None


async def test_a_rolebinding_that_is_not_berths_is_left_alone_and_one_without_subjects_goes() -> (
    None
):
    world = base_world()
    world.add(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "berth-preview-requesters", "namespace": BASE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "x",
            },
            "subjects": [],
        }
    )
    await world.reconcile_environment(BASE)
    assert stored(world, "RoleBinding", "berth-preview-requesters", BASE)["roleRef"]["name"] == "x"
    world.api.remove(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "berth-preview-requesters", BASE
    )
    await world.reconcile_environment(BASE)
    assert stored(world, "RoleBinding", "berth-preview-requesters", BASE)["subjects"] == [CI]
    world.edit_environment(previews={"creators": None})
    await world.reconcile_environment(BASE)
    assert (
        world.api.stored(
            "rbac.authorization.k8s.io/v1", "RoleBinding", "berth-preview-requesters", BASE
        )
        is None
    )


async def test_writing_a_copy_never_takes_a_field_back() -> None:
    world = await made(base_world())
    live = stored(world, "Workload", "cart", PREVIEW)
    # Someone else set the image since: a conflict, not a takeover.
    live["spec"]["containers"]["main"]["image"] = "registry.acme.dev/theirs:1"
    live["metadata"]["managedFields"].append(
        {
            "manager": "kubectl",
            "operation": "Apply",
            "fieldsV1": {"f:spec": {"f:containers": {"f:main": {"f:image": {}}}}},
        }
    )
    world.api.put(live)
    manifest = copy_manifest(stored(world, "Workload", "cart", BASE), PREVIEW)
    manifest["spec"]["containers"]["main"]["image"] = "registry.acme.dev/other:2"
    assert await kube_copies.write_copy(world.api, manifest, None) is False
    # A decision made on an old version is not written.
    assert await kube_copies.write_copy(world.api, manifest, "1") is False
    assert stored(world, "Workload", "cart", PREVIEW)["spec"]["containers"]["main"]["image"] == (
        "registry.acme.dev/theirs:1"
    )
    # Letting go of one that is gone is nothing.
    world.api.remove(API, "Workload", "cart", PREVIEW)
    await kube_copies.let_go_by_dropping(world.api, live)
    await kube_copies.let_go_by_apply(world.api, live)
    assert world.api.stored(API, "Workload", "cart", PREVIEW) is None
    assert previews.view(world.runtime.cache, stored(world, "Environment", BASE)) is None


async def test_a_restart_reads_the_ttl_back_and_writes_nothing() -> None:
    world = await made(base_world(), ttl="1h")
    world.clock.advance(20 * 60)
    await world.reconcile_environment(PREVIEW)
    before = stored(world, "Environment", PREVIEW)["status"]["preview"]
    # Another process (a restart, the replica a shard moved to): a Runtime of its own,
    # nothing in memory, the same objects on the API server.
    restarted = World()
    restarted.api = world.api
    restarted.runtime = type(world.runtime)(
        config=world.runtime.config, client=world.api, clock=world.clock
    )
    # Due next: the warning, half the ttl before expiry (12:30), ten minutes from now.
    assert await restarted.reconcile_environment(PREVIEW) == 10 * 60
    assert restarted.written() == []
    assert stored(restarted, "Environment", PREVIEW)["status"]["preview"] == before
    assert before["expiresAt"] == "2026-01-01T13:00:00Z"


async def test_an_operator_of_some_namespaces_makes_no_previews() -> None:
    world = World(namespaces=(BASE,))
    world.add_environment(previews={"creators": [CI]})
    world.add(request())
    await reconcile_request(world)
    body = stored(world, "Preview", "pr-1", BASE)
    assert ready(body) == ("False", "PreviewsNotAllowed")
    assert "whole cluster" in body["status"]["conditions"][0]["message"]
    assert world.api.stored(API, "Environment", PREVIEW) is None


async def test_who_a_change_wakes() -> None:
    from berth.handlers import wakeups
    from berth.handlers.keys import EnvironmentKey, WorkloadKey

    world = await made(base_world())
    await world.sync()
    cache = world.runtime.cache
    base_env = stored(world, "Environment", BASE)
    preview_env = stored(world, "Environment", PREVIEW)
    # A base: its previews and their Workloads; the Previews of its namespace.
    woken = wakeups.previews_of_environment(cache, base_env)
    assert EnvironmentKey(PREVIEW) in woken
    assert WorkloadKey(PREVIEW, "cart") in woken
    assert PreviewKey(BASE, "pr-1") in woken
    # A preview: the Preview it was made for, and those waiting in its base's namespace.
    assert PreviewKey(BASE, "pr-1") in wakeups.previews_of_environment(cache, preview_env)
    # A base's Workload: its previews; a preview's Workload: that preview.
    assert wakeups.previews_of_workload(cache, stored(world, "Workload", "web", BASE)) == [
        EnvironmentKey(PREVIEW)
    ]
    assert wakeups.previews_of_workload(cache, stored(world, "Workload", "web", PREVIEW)) == [
        EnvironmentKey(PREVIEW)
    ]
