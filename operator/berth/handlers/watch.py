"""kopf's side: the watches that feed the cache and wake the reconcilers.

Nothing here decides anything. Every event only says "look at this key again"; the
reconcilers read the whole state from the cache, so ten events make one reconcile.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from berth import metrics
from berth.api import GROUP, VERSION
from berth.coordination.peering import Peering
from berth.coordination.sharding import Sharder
from berth.handlers import (
    environment,
    kopfpatch,
    preview_request,
    promotion,
    revisions,
    wakeups,
    workload,
)
from berth.handlers.cache import slim_owner
from berth.handlers.config import OperatorConfig
from berth.handlers.keys import (
    EnvironmentKey,
    PreviewKey,
    PromotionKey,
    RevisionKey,
    WorkloadKey,
)
from berth.handlers.runtime import Runtime
from berth.kube import credentials
from berth.kube.children import slim_child
from berth.kube.client import KubeClient
from berth.names import (
    KOPF_FINALIZER,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    MANAGED_SELECTOR,
    RESOURCE_LABEL,
    WORKLOAD_LABEL,
)
from berth.promotion.revision import due
from berth.render.pods import summarise_pod

log = logging.getLogger("berth")
CHILD_RESOURCES = (("apps", "v1", "deployments"), ("", "v1", "services"), ("", "v1", "configmaps"))


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    config: OperatorConfig = memo.config
    # We post our own Events, only on real transitions; kopf's would mirror every log line.
    settings.posting.enabled = False
    # kopf's per-object workers only feed our queue; the real work is bounded by our
    # own reconcile workers (--workers). kopf's limit must stay unbounded: while it
    # fills its indices at startup, every object's worker holds a slot until all
    # objects are indexed, so any limit below the number of objects deadlocks.
    settings.queueing.worker_limit = None
    # kopf's own bookkeeping must never land in an object's metadata: Argo CD would
    # see a diff. We register no change-detecting handlers, and if kopf ever needs
    # storage it goes to status.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    # No on.create/on.update handlers: kopf needs no essence to diff (kopfpatch.NoEssence).
    settings.persistence.diffbase_storage = kopfpatch.NoEssence()
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.networking.request_timeout = 60
    # A dead replica's keep-alive expires after this: the standby's takeover time.
    settings.peering.lifetime = config.peering_lifetime
    # Server-side filtering: only the children we manage come down the wire.
    for group, version, plural in CHILD_RESOURCES:
        key = (group, version, plural) if group else (version, plural)
        settings.watching.label_selectors[key] = f"{MANAGED_SELECTOR},{WORKLOAD_LABEL}"
    # The Pods of our Deployments carry the same labels (the Pod template's).
    settings.watching.label_selectors["v1", "pods"] = f"{MANAGED_SELECTOR},{WORKLOAD_LABEL}"

    sharder, peering = gates(config)
    client = KubeClient(
        lambda: credentials.load(config.kubeconfig, config.context),
        max_inflight=config.max_inflight,
        qps=config.qps,
        burst=config.burst,
        on_write=metrics.record_write,
        on_write_failure=metrics.record_write_failure,
        on_forbidden=forbidden,
        on_throttle=metrics.record_throttle,
        on_limit=metrics.record_limit,
        # With shards, every write of a reconcile is checked against the shard's Lease.
        before_write=sharder.guard if sharder else None,
        after_write=sharder.record_write if sharder else None,
    )
    install_task_dump()
    runtime = Runtime(
        config=config,
        client=client,
        sharder=sharder,
        peering=peering,
        watch_claims=True,
        # A test's hook (tests/statuscheck.py); production passes none.
        after_claim_created=memo.get("after_claim_created"),
    )
    runtime.reconcilers["workload"] = workload.reconcile
    runtime.reconcilers["environment"] = environment.reconcile
    runtime.reconcilers["preview"] = preview_request.reconcile
    runtime.reconcilers["revision"] = revisions.reconcile
    runtime.reconcilers["promotion"] = promotion.reconcile
    memo.runtime = runtime
    runtime.start_sharding()


def forbidden(verb: str, resource: str, message: str) -> None:
    """A 403: never silent, whoever asked (an Event's patch as much as a child's apply).
    The reconcile that made the request reports it too where it concerns a Workload."""
    log.warning("the API server forbids the operator to %s %s: %s", verb, resource, message)
    metrics.record_forbidden(verb, resource.split(" ", 1)[0])


def gates(config: OperatorConfig) -> tuple[Sharder | None, Peering | None]:
    """What decides when this replica may reconcile: with --shards, a Sharder (only the
    keys of the shards it holds); with --peering, a Peering (only while no live peer
    outranks it); alone, neither."""
    sharder = None
    if config.sharded:
        sharder = Sharder(
            config.shards,
            config.identity,
            config.shard_namespace,
            config.shard_lease_seconds,
            audit_writes=config.log_writes,
        )
    peering = None
    if not config.standalone:
        peering = Peering(
            config.peering,
            config.identity,
            priority=config.priority,
            lifetime=config.peering_lifetime,
            namespaces=config.namespaces,
        )
    return sharder, peering


def install_task_dump() -> None:
    """On SIGUSR1, log every asyncio task and where it waits: for a stuck operator."""
    import asyncio
    import io
    import signal

    def dump() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            out.write(f"--- {task.get_name()}\n")
            task.print_stack(limit=8, file=out)
        log.warning("asyncio tasks:\n%s", out.getvalue())

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


@kopf.on.cleanup()
async def shutdown(memo: Any, **_: Any) -> None:
    runtime = _runtime(memo)
    await runtime.stop()
    await runtime.client.close()
    await runtime.context.registry.close()


@kopf.on.login()
def login(memo: Any, **_: Any) -> kopf.ConnectionInfo:
    config: OperatorConfig = memo.config
    creds = credentials.load(config.kubeconfig, config.context)
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_path=creds.ca_path,
        insecure=not creds.verify_tls,
        scheme="Bearer" if creds.token else None,
        token=creds.token,
        certificate_path=creds.cert_path,
        private_key_path=creds.key_path,
        default_namespace=creds.default_namespace,
    )


# -- indices: kopf lists and watches these before it calls any handler ------------------


@kopf.index(GROUP, VERSION, "workloads")
async def berth_workloads(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace, name): slim_owner(body)}


@kopf.index(GROUP, VERSION, "environments")
async def berth_environments(name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {name: slim_owner(body)}


@kopf.index(GROUP, VERSION, "previews")
async def berth_previews(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace, name): slim_owner(body)}


@kopf.index(GROUP, VERSION, "promotions")
async def berth_promotions(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return {(namespace, name): slim_owner(body)}


@kopf.index(GROUP, VERSION, "promotionapprovals")
async def berth_promotionapprovals(
    namespace: str | None, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    # Small, few, and read by the Promotion they name.
    promotion = (body.get("spec") or {}).get("promotion")
    return {(namespace, promotion): slim_owner(body)} if promotion else {}


@kopf.index(GROUP, VERSION, "clusterprovisioners")
async def berth_clusterprovisioners(name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {name: dict(body)}


def _child_entry(namespace: str | None, labels: kopf.Labels, body: kopf.Body) -> dict[Any, Any]:
    owner = labels.get(WORKLOAD_LABEL)
    # Objects provisioned for a resource are not the Workload's children: their fate is
    # the deletion policy's, not the prune's.
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or not owner or RESOURCE_LABEL in labels:
        return {}
    return {(namespace, owner): slim_child(body)}


@kopf.index("apps", "v1", "deployments", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def berth_deployments(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return _child_entry(namespace, labels, body)


@kopf.index("v1", "services", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def berth_services(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return _child_entry(namespace, labels, body)


@kopf.index("v1", "configmaps", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def berth_configmaps(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    return _child_entry(namespace, labels, body)


def pod_owner(labels: kopf.Labels, body: kopf.Body) -> str | None:
    """The Workload whose Deployment made this Pod, or None.

    The labels come from our Pod template; a Pod some template provisioner's Deployment
    made with the same labels is told apart by its ReplicaSet, which the Deployment
    controller names after the Deployment (the Workload) and the Pod template's hash.
    """
    owner = labels.get(WORKLOAD_LABEL)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or not owner or RESOURCE_LABEL in labels:
        return None
    replicaset = f"{owner}-{labels.get('pod-template-hash', '')}"
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and ref.get("name") == replicaset:
            return str(owner)
    return None


@kopf.index("v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def berth_pods(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    # Only a summary: a Pod's body is kilobytes, and there can be tens of thousands.
    owner = pod_owner(labels, body)
    return {(namespace, owner): summarise_pod(body)} if owner else {}


# -- events: wake the owners --------------------------------------------------------------


def _woken(memo: Any, kwargs: dict[str, Any]) -> Runtime:
    runtime = _runtime(memo)
    if not runtime.cache.attached:
        runtime.cache.attach(kwargs)
        runtime.enqueue_all()
        runtime.start()
    return runtime


@kopf.on.event(GROUP, VERSION, "workloads")
async def on_workload(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = _woken(memo, kwargs)
    echo = event["type"] != "DELETED" and runtime.cache.own_echo(body)
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    deleted = event["type"] == "DELETED"
    if deleted:
        runtime.cache.forget(body)
        runtime.generations.forget(WorkloadKey(namespace, name))
        await runtime.forget_workload(WorkloadKey(namespace, name))
    else:  # times a new generation until observed and Ready (berth.metrics)
        ours = runtime.reconciles(WorkloadKey(namespace, name))
        runtime.generations.saw(WorkloadKey(namespace, name), body, record=ours)
    if not echo:  # our own status write coming back tells its reconcile nothing new
        runtime.enqueue(WorkloadKey(namespace, name))
        # Previews follow their base's Workloads, and notice their own, within seconds.
        for preview in wakeups.previews_of_workload(runtime.cache, body):
            runtime.enqueue(preview)
    for other in wakeups.sharers(runtime.cache, body):
        runtime.enqueue(other)
    # Those waiting for it (a service-port to it), when it appeared, changed or went.
    for reader in wakeups.readers_of(runtime.context.dependents, body, deleted=deleted):
        runtime.enqueue(reader)
    # Its Environment counts it: looked at as soon as its counts may be written again,
    # once for many events (counting is a walk over all Workloads).
    for env in wakeups.environments_of_workload(runtime.cache, body):
        runtime.queue.add_after(
            EnvironmentKey(env), environment.counts_due_in(runtime.context, env)
        )
    if event["type"] != "DELETED":
        # A generation Ready and not recorded yet is due its revision; the Promotions
        # under way that target it follow its rollout.
        meta = body["metadata"]
        if due(body):
            runtime.enqueue(RevisionKey(meta["namespace"], meta["name"]))
        for key in wakeups.promotions_of_target(runtime.cache, body):
            runtime.enqueue(key)


@kopf.on.event(GROUP, VERSION, "environments")
async def on_environment(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = _woken(memo, kwargs)
    if event["type"] == "DELETED":
        runtime.cache.forget(body)
    runtime.enqueue(EnvironmentKey(body["metadata"]["name"]))
    for key in wakeups.workloads_of_environment(runtime.cache, body):
        runtime.enqueue(key)
    for other in wakeups.previews_of_environment(runtime.cache, body):
        runtime.enqueue(other)


@kopf.on.event(GROUP, VERSION, "previews")
async def on_preview(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = _woken(memo, kwargs)
    echo = event["type"] != "DELETED" and runtime.cache.own_echo(body)
    if event["type"] == "DELETED":
        runtime.cache.forget(body)
    if not echo:
        runtime.enqueue(PreviewKey(body["metadata"]["namespace"], body["metadata"]["name"]))
    # The Previews of the namespace that wait for a turn in the base's quota.
    for other in runtime.cache.previews_in(body["metadata"]["namespace"]):
        runtime.enqueue(PreviewKey(other["metadata"]["namespace"], other["metadata"]["name"]))


@kopf.on.event(GROUP, VERSION, "clusterprovisioners")
async def on_cluster_provisioner(
    event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any
) -> None:
    runtime = _woken(memo, kwargs)
    # Whose choice of provisioner may change: the Workloads it serves now, and those
    # with a resource of its type in an Environment its criteria match.
    catalogue = runtime.context.provisioning.catalogue
    for key in wakeups.users_of_cluster_provisioner(runtime.cache, catalogue, body):
        runtime.enqueue(key)


def _on_child(event: kopf.RawEvent, body: kopf.Body, memo: Any, kwargs: dict[str, Any]) -> None:
    runtime = _woken(memo, kwargs)
    if event["type"] == "DELETED":
        runtime.cache.forget(body)
    elif runtime.cache.own_echo(body):
        return  # our own apply coming back: nothing new for the owner
    owner = (body.get("metadata", {}).get("labels") or {}).get(WORKLOAD_LABEL)
    if owner:
        runtime.enqueue(WorkloadKey(body["metadata"]["namespace"], owner))


@kopf.on.event("apps", "v1", "deployments", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def on_deployment(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    _on_child(event, body, memo, kwargs)


@kopf.on.event("v1", "services", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def on_service(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    _on_child(event, body, memo, kwargs)


@kopf.on.event("v1", "configmaps", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def on_configmap(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    _on_child(event, body, memo, kwargs)


@kopf.on.event("v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE})
async def on_pod(
    event: kopf.RawEvent, labels: kopf.Labels, body: kopf.Body, memo: Any, **kwargs: Any
) -> None:
    runtime = _woken(memo, kwargs)
    owner = pod_owner(labels, body)
    if owner:
        runtime.enqueue(WorkloadKey(body["metadata"]["namespace"], owner))


@kopf.on.event(GROUP, VERSION, "promotions")
async def on_promotion(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = _woken(memo, kwargs)
    if event["type"] == "DELETED":
        runtime.cache.forget(body)
        return
    if runtime.cache.own_echo(body):
        return  # our own status write coming back
    runtime.enqueue(PromotionKey(body["metadata"]["namespace"], body["metadata"]["name"]))


@kopf.on.event(GROUP, VERSION, "promotionapprovals")
async def on_approval(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    runtime = _woken(memo, kwargs)
    promotion_name = (body.get("spec") or {}).get("promotion")
    if event["type"] != "DELETED" and promotion_name:
        runtime.enqueue(PromotionKey(body["metadata"]["namespace"], str(promotion_name)))
