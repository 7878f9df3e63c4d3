"""What ``berth trace`` works with: the objects read from the cluster (a Snapshot) and
the tree made of them (Nodes). Pure data, no I/O."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# An object's address: apiVersion, kind, namespace ("" when cluster-scoped), name.
Ref = tuple[str, str, str, str]
# A kind: apiVersion, kind.
KindKey = tuple[str, str]


@dataclass(frozen=True)
class Unreadable:
    """What the user's credentials could not read (Forbidden), what the API server does
    not serve (NotServed), or another error of the server (its reason)."""

    reason: str
    message: str


# An object as read: its body, None when it does not exist, or why it could not be read.
Found = Mapping[str, Any] | Unreadable | None


@dataclass
class Snapshot:
    """Everything one trace read, at one moment. ``listed`` holds, by kind, the objects
    Berth made in the namespace (its managed-by label); ``objects`` what was read one by
    one (resources' objects, claims, connection Secrets' metadata, ClusterProvisioners,
    the Namespace)."""

    now: datetime.datetime
    namespace: str
    workloads: list[Mapping[str, Any]] | Unreadable
    environments: dict[str, Found] = field(default_factory=dict)
    listed: dict[KindKey, list[Mapping[str, Any]] | Unreadable] = field(default_factory=dict)
    objects: dict[Ref, Found] = field(default_factory=dict)


class State(StrEnum):
    """How a node fares. READY and PRESENT are fine (PRESENT: the object exists and has
    no readiness of its own, a ConfigMap); PROGRESSING is on its way; FAILED needs
    someone; UNKNOWN could not be read."""

    READY = "Ready"
    PRESENT = "Present"
    PROGRESSING = "Progressing"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Health:
    state: State
    reason: str
    message: str = ""


@dataclass
class Node:
    """One line of the tree. ``kind`` is a Kubernetes kind, or ``Resource`` (a Score
    resource of the Workload) or ``Provisioner`` (an Environment's own provisioner), which
    are no objects of their own (``api_version`` None). ``note`` qualifies the name (a
    resource's type)."""

    kind: str
    name: str
    health: Health
    api_version: str | None = None
    namespace: str | None = None
    note: str | None = None
    created: str | None = None
    children: list[Node] = field(default_factory=list)
    first_failure: bool = False

    @property
    def ready(self) -> bool | None:
        """True or False where readiness means something; None for PRESENT and UNKNOWN."""
        if self.health.state in (State.PRESENT, State.UNKNOWN):
            return None
        return self.health.state == State.READY

    def walk(self) -> list[Node]:
        """This node and every node under it, depth first, parents first."""
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes


@dataclass
class Trace:
    """The tree of one Workload or one Environment, with its first failure marked."""

    root: Node
    first_failure: Node | None = None
