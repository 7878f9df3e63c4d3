"""The labels Berth puts on what it renders for a Workload (the keys: ``berth.names``).

``WORKLOAD_LABEL=<name>`` is the inventory label: the operator lists a Workload's
children by it and prunes those no longer rendered. ``BACKSTAGE_KUBERNETES_ID`` is how
Backstage's Kubernetes plugin finds a component's objects; it is on every child, the Pod
template included (the plugin lists Pods by it), but never in a selector: a selector is
immutable, and the component a Workload belongs to may change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from berth.api.workload import Workload, is_label_value
from berth.names import (
    BACKSTAGE_KUBERNETES_ID,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    SHARD_BUCKET_LABEL,
    WORKLOAD_LABEL,
)

# How many buckets the namespaces fall into; a shard is a set of buckets, so this is the
# most shards there can be (coordination.shards).
SHARD_BUCKETS = 64


def shard_bucket(namespace: str) -> int:
    """The bucket of a namespace: stable across processes, machines and versions, and
    independent of the number of shards (a shard is ``bucket % shards``), so that the
    label carrying it never has to change."""
    digest = hashlib.sha256(namespace.encode()).digest()
    return int.from_bytes(digest[:8], "big") % SHARD_BUCKETS


def component_id(workload_name: str, score_annotations: object) -> str:
    """The Backstage component a Workload is part of: the Score file's annotation
    ``backstage.io/kubernetes-id`` where it names one, else the Workload's name.

    Takes the raw parts so that the catalog (``berth.backstage``, which reads Workloads
    as the cache holds them) and the renderer answer alike. A value that cannot be a
    label (or annotations that are not a map) is not used here; the Workload model
    refuses it with a message."""
    if not isinstance(score_annotations, Mapping):
        return workload_name
    named = score_annotations.get(BACKSTAGE_KUBERNETES_ID)
    if isinstance(named, str) and is_label_value(named):
        return named
    return workload_name


def workload_labels(workload: Workload, namespace: str) -> dict[str, str]:
    """The labels every child of a Workload in ``namespace`` carries (a fresh dict each
    call)."""
    name = workload.metadata.name
    score = workload.spec.metadata
    return {
        NAME_LABEL: name,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        WORKLOAD_LABEL: name,
        BACKSTAGE_KUBERNETES_ID: component_id(name, score.annotations if score else None),
        SHARD_BUCKET_LABEL: str(shard_bucket(namespace)),
    }


def selector_labels(workload_name: str) -> dict[str, str]:
    """The labels that select a Workload's Pods and children."""
    return {WORKLOAD_LABEL: workload_name}
