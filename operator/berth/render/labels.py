"""The labels Berth puts on what it renders for a Workload (the keys: ``berth.names``).

``WORKLOAD_LABEL=<name>`` is the inventory label: the operator lists a Workload's
children by it and prunes those no longer rendered. ``BACKSTAGE_KUBERNETES_ID`` is how
Backstage's Kubernetes plugin finds a component's objects; it is on every child, the Pod
template included (the plugin lists Pods by it), but never in a selector: a selector is
immutable, and the component a Workload belongs to may change.
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.api.workload import Workload, is_label_value
from berth.names import (
    BACKSTAGE_KUBERNETES_ID,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    WORKLOAD_LABEL,
)


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


def workload_labels(workload: Workload) -> dict[str, str]:
    """The labels every child of a Workload carries (a fresh dict each call)."""
    name = workload.metadata.name
    score = workload.spec.metadata
    return {
        NAME_LABEL: name,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        WORKLOAD_LABEL: name,
        BACKSTAGE_KUBERNETES_ID: component_id(name, score.annotations if score else None),
    }


def selector_labels(workload_name: str) -> dict[str, str]:
    """The labels that select a Workload's Pods and children."""
    return {WORKLOAD_LABEL: workload_name}
