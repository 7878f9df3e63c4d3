"""Labels and annotations Berth puts on what it renders.

``berth.dev/workload=<name>`` is the inventory label: the operator lists a Workload's
children by it and prunes those no longer rendered.
"""

from __future__ import annotations

WORKLOAD_LABEL = "berth.dev/workload"
NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "berth"
CHECKSUM_ANNOTATION = "berth.dev/config-checksum"


def workload_labels(workload_name: str) -> dict[str, str]:
    """The labels every child of a Workload carries (a fresh dict each call)."""
    return {
        NAME_LABEL: workload_name,
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKLOAD_LABEL: workload_name,
    }


def selector_labels(workload_name: str) -> dict[str, str]:
    """The labels that select a Workload's Pods and children."""
    return {WORKLOAD_LABEL: workload_name}
