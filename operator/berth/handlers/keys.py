"""What goes through the work queue: the key of one object to reconcile.

A key names an object, never an event: ten events of one Workload are one key in the
queue, and one reconcile. Each kind has a reconciler (``Runtime.reconcilers``, by
``kind``) that takes the key of its kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class WorkloadKey(NamedTuple):
    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return "workload"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class EnvironmentKey(NamedTuple):
    name: str

    @property
    def kind(self) -> str:
        return "environment"

    def __str__(self) -> str:
        return self.name


# The keys of the kinds added after these two are frozen dataclasses, not NamedTuples: a
# tuple equals any tuple of the same values, so RevisionKey("ns", "checkout") would be the
# very key WorkloadKey("ns", "checkout") is in the queue, and one of the two would never run.
@dataclass(frozen=True, order=True)
class PreviewKey:
    """A Preview: a request for a preview Environment, in its base's namespace."""

    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return "preview"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class RevisionKey:
    """A Workload whose Ready generation may be due a revision (handlers.revisions)."""

    namespace: str
    workload: str

    @property
    def kind(self) -> str:
        return "revision"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.workload}"


@dataclass(frozen=True, order=True)
class PromotionKey:
    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return "promotion"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


Key = WorkloadKey | EnvironmentKey | PreviewKey | RevisionKey | PromotionKey
