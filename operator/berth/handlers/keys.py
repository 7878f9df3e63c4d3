"""What goes through the work queue: the key of one object to reconcile.

A key names an object, never an event: ten events of one Workload are one key in the
queue, and one reconcile. Each kind has a reconciler (``Runtime.reconcilers``, by
``kind``) that takes the key of its kind.
"""

from __future__ import annotations

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


class RevisionKey(NamedTuple):
    """A Workload whose Ready generation may be due a revision (handlers.revisions)."""

    namespace: str
    workload: str

    @property
    def kind(self) -> str:
        return "revision"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.workload}"


class PromotionKey(NamedTuple):
    namespace: str
    name: str

    @property
    def kind(self) -> str:
        return "promotion"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


Key = WorkloadKey | EnvironmentKey | RevisionKey | PromotionKey
