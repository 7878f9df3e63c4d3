"""The labels Berth puts on what it renders for a Workload (the keys: ``berth.names``).

``WORKLOAD_LABEL=<name>`` is the inventory label: the operator lists a Workload's
children by it and prunes those no longer rendered.
"""

from __future__ import annotations

from berth.names import MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL, WORKLOAD_LABEL


def workload_labels(workload_name: str) -> dict[str, str]:
    """The labels every child of a Workload carries (a fresh dict each call)."""
    return {
        NAME_LABEL: workload_name,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        WORKLOAD_LABEL: workload_name,
    }


def selector_labels(workload_name: str) -> dict[str, str]:
    """The labels that select a Workload's Pods and children."""
    return {WORKLOAD_LABEL: workload_name}
