"""What the operator watches (``WATCHED``, one line per kind), and kopf's part: the
operator's life (start, login, stop) and, with --peering, the peering keep-alive.

kopf no longer watches anything of ours: Berth's own informers (``berth.kube.informer``,
started by ``berth.handlers.informers``) list and watch every kind below, per shard
where it is sharded, and each change goes through its kind's wake-up rule
(``berth.handlers.wakeups``) to the work queue. Nothing here decides anything: every
change only says "look at this key again"; the reconcilers read the whole state from
the cache, so ten events make one reconcile.

A controller of a new kind registers here with one line in ``WATCHED`` (its kind,
selector, what is kept, its index and its wake-up rule) and a reconciler in
``configure`` (``runtime.reconcilers[kind]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
from berth.handlers.cache import (
    APPROVALS,
    CLUSTER_PROVISIONERS,
    ENVIRONMENTS,
    PODS,
    PREVIEWS,
    PROMOTIONS,
    WORKLOADS,
    OwnedPod,
    child_owner,
    pod_owner_of,
    slim_owner,
)
from berth.handlers.config import OperatorConfig
from berth.handlers.informers import Watched
from berth.handlers.keys import WorkloadKey
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
from berth.render.pods import summarise_pod

log = logging.getLogger("berth")
API_VERSION = f"{GROUP}/{VERSION}"


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    config: OperatorConfig = memo.config
    # We post our own Events, only on real transitions; kopf's would mirror every log line.
    settings.posting.enabled = False
    # kopf watches none of our kinds; should it ever process an object, its bookkeeping
    # must never land in the object's metadata (Argo CD would see a diff): status only,
    # and no essence to diff (kopfpatch.NoEssence).
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopfpatch.NoEssence()
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.networking.request_timeout = 60
    # A dead replica's keep-alive expires after this: the standby's takeover time.
    settings.peering.lifetime = config.peering_lifetime

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
        watched=WATCHED,
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
    runtime.launch()


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


# -- what the operator watches: one line per kind ---------------------------------------

# Only the children we manage come down the wire (server-side filtering); the Pods of our
# Deployments carry the same labels (the Pod template's).
CHILD_SELECTOR = f"{MANAGED_SELECTOR},{WORKLOAD_LABEL}"


def pod_owner(labels: Mapping[str, Any], body: Mapping[str, Any]) -> WorkloadKey | None:
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
            return WorkloadKey(body["metadata"]["namespace"], str(owner))
    return None


def approval_of(kept: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Promotion a PromotionApproval names, (namespace, name): its index."""
    promotion = (kept.get("spec") or {}).get("promotion")
    return (kept["metadata"]["namespace"], str(promotion)) if promotion else None


def keep_pod(body: dict[str, Any]) -> OwnedPod:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return OwnedPod(pod_owner(labels, body), summarise_pod(body))


# Each line: the store it fills, the kind, the label selector, whether it is watched per
# shard, what is kept of an object, the key it is found by, whom a change wakes, and
# whether the operator may start without it (optional).
WATCHED: tuple[Watched, ...] = (
    Watched(WORKLOADS, API_VERSION, "Workload", sharded=True, orphans=True,
            keep=slim_owner, wake=wakeups.workload_changed),
    Watched(ENVIRONMENTS, API_VERSION, "Environment",
            keep=slim_owner, wake=wakeups.environment_changed),
    Watched(CLUSTER_PROVISIONERS, API_VERSION, "ClusterProvisioner",
            wake=wakeups.cluster_provisioner_changed),
    # Previews, Promotions and their approvals are few, written by people (without the
    # shard-bucket label), and read across shards (a preview Environment reads its
    # Preview in its base's namespace): watched cluster-wide, like Environments; each is
    # reconciled by the holder of its namespace's shard (Runtime.shard_of_key). They are
    # features, optional: a cluster whose CRDs predate them (or whose RBAC leaves them out)
    # still gets its Workloads reconciled, and they are taken up once they can be listed.
    Watched(PREVIEWS, API_VERSION, "Preview", keep=slim_owner, wake=wakeups.preview_changed,
            optional=True),
    Watched(PROMOTIONS, API_VERSION, "Promotion",
            keep=slim_owner, wake=wakeups.promotion_changed, optional=True),
    Watched(APPROVALS, API_VERSION, "PromotionApproval",
            keep=slim_owner, index=approval_of, wake=wakeups.approval_changed, optional=True),
    Watched("deployments", "apps/v1", "Deployment", CHILD_SELECTOR, sharded=True,
            keep=slim_child, index=child_owner, wake=wakeups.child_changed),
    Watched("services", "v1", "Service", CHILD_SELECTOR, sharded=True,
            keep=slim_child, index=child_owner, wake=wakeups.child_changed),
    Watched("configmaps", "v1", "ConfigMap", CHILD_SELECTOR, sharded=True,
            keep=slim_child, index=child_owner, wake=wakeups.child_changed),
    Watched(PODS, "v1", "Pod", CHILD_SELECTOR, sharded=True,
            keep=keep_pod, index=pod_owner_of, wake=wakeups.pod_changed),
)  # fmt: skip
