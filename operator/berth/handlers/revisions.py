"""Record a Workload's revision when a new generation first becomes Ready; collect the
oldest past the history limit. The decisions are ``berth.promotion``'s; this gathers
the state (the cache, the revisions listed, the registry) and writes the answer.

Writes: the WorkloadRevision (created once per distinct pinned spec), the Workload's
``status.revision`` and ``status.history`` (server-side applied under a field manager
of their own, apart from the status the Workload's reconcile writes), an Event, and the
deletion of revisions past the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api import API_VERSION, Environment
from berth.api.promotion import FINAL_PHASES
from berth.api.revision import PinnedImage
from berth.clock import rfc3339
from berth.handlers.cache import PROMOTIONS
from berth.handlers.common import post_event
from berth.handlers.context import Context
from berth.handlers.keys import RevisionKey, WorkloadKey
from berth.handlers.workload_facts import resolve_environment
from berth.kube import objects
from berth.kube.client import Conflict, KubeClient, NotFound
from berth.kube.pullsecrets import pull_secrets
from berth.names import (
    PROMOTED_REVISION_ANNOTATION,
    PROMOTION_ANNOTATION,
    REVISION_FIELD_MANAGER,
    WORKLOAD_LABEL,
)
from berth.promotion.history import collectable, history_limit, with_entry
from berth.promotion.revision import (
    REVISION_KIND,
    Origin,
    due,
    from_registry,
    identical,
    needs_registry,
    next_number,
    pinned_template,
    pinned_without_registry,
    revision_manifest,
    template_hash,
)
from berth.reasons import Reason

log = logging.getLogger("berth")


async def list_revisions(client: KubeClient, namespace: str, workload: str) -> list[dict[str, Any]]:
    return await client.list(
        API_VERSION, REVISION_KIND, namespace, label_selector=f"{WORKLOAD_LABEL}={workload}"
    )


async def pinned_images(context: Context, workload: Mapping[str, Any]) -> list[PinnedImage]:
    """Every container's image pinned: by the spec, the Pods, else the registry."""
    meta, spec = workload["metadata"], workload.get("spec") or {}
    key = WorkloadKey(meta["namespace"], meta["name"])
    found = pinned_without_registry(spec, context.cache.pods_of(key))
    asks = needs_registry(found)
    secrets: list[dict[str, Any]] = []
    if asks:
        secrets = await pull_secrets(context.client, meta["namespace"])
    for container, image in asks.items():
        answer = await context.registry.resolve(image, secrets)
        found[container] = from_registry(container, image, answer.digest, answer.message)
    return [value for value in found.values() if isinstance(value, PinnedImage)]


async def origin_of(
    client: KubeClient,
    workload: Mapping[str, Any],
    digest: str,
    revisions: Sequence[Mapping[str, Any]],
) -> Origin:
    """The Promotion that wrote this generation, as its annotations say — believed only
    when the generation pins to the very spec of the revision they name (an edit made
    after the promotion keeps the annotations, not the spec)."""
    annotations = workload["metadata"].get("annotations") or {}
    named = annotations.get(PROMOTED_REVISION_ANNOTATION)
    if not named or "/" not in named:
        return Origin()
    namespace, name = named.split("/", 1)
    if namespace == workload["metadata"]["namespace"]:
        source = next((r for r in revisions if r["metadata"]["name"] == name), None)
    else:
        try:
            source = await client.get(API_VERSION, REVISION_KIND, name, namespace)
        except NotFound:
            source = None
    if source is None or (source.get("spec") or {}).get("hash") != digest:
        return Origin()
    return Origin(promotion=annotations.get(PROMOTION_ANNOTATION), revision=named)


def referenced(context: Context, namespace: str, current: str) -> set[str]:
    """Revisions that must stay: the current one, and those Promotions under way apply."""
    keep = {current}
    for promotion in context.cache.promotions():
        status = promotion.get("status") or {}
        if status.get("phase") in FINAL_PHASES:
            continue
        ref = str(status.get("sourceRevision") or "")
        if ref.startswith(f"{namespace}/"):
            keep.add(ref.split("/", 1)[1])
    return keep


async def reconcile(context: Context, key: RevisionKey) -> float | None:
    """Record the revision of a Ready generation not recorded yet; collect old ones."""
    workload = context.cache.workload(WorkloadKey(key.namespace, key.workload))
    if workload is None or not due(workload):
        return None
    _, env_body, problem = resolve_environment(context.cache, workload)
    if env_body is None or problem is not None:
        return None
    try:
        environment = Environment.model_validate(env_body)
    except ValidationError:
        return None
    revisions = await list_revisions(context.client, key.namespace, key.workload)
    images = await pinned_images(context, workload)
    digest = template_hash(pinned_template(workload.get("spec") or {}, images))
    origin = await origin_of(context.client, workload, digest, revisions)
    revision = identical(revisions, digest)
    if revision is None:
        number = next_number(revisions, workload.get("status"))
        manifest = revision_manifest(workload, env_body, number, images, origin)
        try:
            revision = await objects.create(
                context.client, manifest, field_manager=REVISION_FIELD_MANAGER
            )
        except Conflict:
            return 0.0  # another writer took the number first: look again at once
        revisions = [*revisions, revision]
    await record(context, workload, revision, origin, history_limit(environment))
    await collect(context, key, revisions, history_limit(environment), revision)
    return None


async def record(
    context: Context,
    workload: Mapping[str, Any],
    revision: Mapping[str, Any],
    origin: Origin,
    limit: int,
) -> None:
    """The Workload's status names the revision; its history gains an entry."""
    meta, status = workload["metadata"], workload.get("status") or {}
    now = rfc3339(context.clock.now())
    name, number = revision["metadata"]["name"], int(revision["spec"]["revision"])
    entry: dict[str, Any] = {"revision": name, "number": number, "time": now}
    if origin.promotion:
        entry["promotion"] = origin.promotion
    history = list(status.get("history") or [])
    latest = history[0] if history else {}
    # A generation that pins to the revision it already runs (no Promotion brought it)
    # is no move: the history stays as it is.
    if latest.get("revision") != name or origin.promotion not in (None, latest.get("promotion")):
        history = with_entry(history, entry, limit)
    written = {
        "revision": {"name": name, "number": number, "workloadGeneration": meta["generation"]},
        "history": history,
    }
    manifest = {
        "apiVersion": workload["apiVersion"],
        "kind": workload["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "status": written,
    }
    try:
        after = await context.client.apply(
            manifest, field_manager=REVISION_FIELD_MANAGER, subresource="status"
        )
    except NotFound:
        return
    context.cache.remember_write(workload, after)
    how = f" (promotion {origin.promotion})" if origin.promotion else ""
    await post_event(
        context.events,
        after,
        Reason.REVISION_RECORDED,
        f"generation {meta['generation']} is Ready: revision {number} ({name}){how}",
        now=now,
    )


async def collect(
    context: Context,
    key: RevisionKey,
    revisions: Sequence[Mapping[str, Any]],
    limit: int,
    current: Mapping[str, Any],
) -> None:
    keep = referenced(context, key.namespace, current["metadata"]["name"])
    doomed = collectable(revisions, limit, keep)
    if doomed and not context.cache.available(PROMOTIONS):
        # Which revisions Promotions under way apply cannot be known while Promotions
        # cannot be listed (an empty store is not "none"): none goes until they can; the
        # next revision recorded collects them.
        log.info(
            "revisions of %s/%s past the limit kept: Promotions cannot be listed now",
            key.namespace,
            key.workload,
        )
        return
    for name in doomed:
        uid = next(r["metadata"].get("uid") for r in revisions if r["metadata"]["name"] == name)
        await context.client.delete(API_VERSION, REVISION_KIND, name, key.namespace, uid=uid)
        log.info("revision %s/%s collected (over the limit of %d)", key.namespace, name, limit)
