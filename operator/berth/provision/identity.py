"""Deterministic, DNS-safe names for provisioned resources.

A resource without an ``id`` belongs to one Workload: its identity is
``<workload>-<resource>-<hash>``. A resource with an ``id`` is shared by every Workload of
the Environment that asks for the same type, class and id (Score's rule): its identity is
``<type>[-<class>]-<id>-<hash>``. The hash (8 hex digits of a SHA-256 of the exact key)
makes identities unique even where the readable part is not: workload ``a-b`` with resource
``c`` and workload ``a`` with resource ``b-c`` must never share a database. Identities
start with a letter, are lowercase letters, digits and '-', and are at most
``IDENTITY_MAX`` (52) characters, which leaves room for suffixes such as ``-conn`` (the
connection Secret) within a 63-character DNS label.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from berth.api.workload import ResourceRequest

IDENTITY_MAX = 52
_HASH_LEN = 8


def is_shared(request: ResourceRequest) -> bool:
    """A resource with an id is shared across the Environment's Workloads."""
    return request.id is not None


def _readable(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    label = re.sub(r"-{2,}", "-", label).strip("-")
    if not label or not label[0].isalpha():
        label = f"r-{label}".rstrip("-")
    return label


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:_HASH_LEN]


def resource_identity(workload_name: str, resource_name: str, request: ResourceRequest) -> str:
    """The name of what is provisioned for resource ``resource_name`` of a Workload."""
    return identity_of(workload_name, resource_name, request.type, request.class_, request.id)


def identity_of(
    workload_name: str, resource_name: str, type_: str, class_: str | None, id_: str | None
) -> str:
    """``resource_identity`` from the parts of a request, as a status entry or a raw spec
    holds them. Two requests are the same resource exactly when their identities are
    equal: type, class and id are all compared (an id alone never is)."""
    if id_ is not None:
        parts = [type_, class_ or "", id_]
        readable = _readable("-".join(part for part in parts if part))
        key = "shared\0" + "\0".join(parts)
    else:
        readable = _readable(f"{workload_name}-{resource_name}")
        key = f"workload\0{workload_name}\0{resource_name}"
    room = IDENTITY_MAX - _HASH_LEN - 1
    return f"{readable[:room].rstrip('-')}-{_digest(key)}"


def connection_secret_name(identity: str) -> str:
    """The Secret a Crossplane claim writes its connection details to."""
    return f"{identity}-conn"


def identities_of_spec(workload_name: str, spec: Mapping[str, Any] | None) -> dict[str, str]:
    """The identity of each resource of a raw Workload spec (as the cache holds it), by
    resource name. Entries that are not a map with a string type are skipped: the
    Workload's own validation reports them."""
    result: dict[str, str] = {}
    for name, request in ((spec or {}).get("resources") or {}).items():
        if not isinstance(request, Mapping) or not isinstance(request.get("type"), str):
            continue
        klass, id_ = request.get("class"), request.get("id")
        result[str(name)] = identity_of(
            workload_name,
            str(name),
            request["type"],
            klass if isinstance(klass, str) else None,
            id_ if isinstance(id_, str) else None,
        )
    return result


def identity_of_entry(workload_name: str, entry: Mapping[str, Any]) -> str | None:
    """The identity of a Workload's status.resources entry (None when it has no type)."""
    type_ = entry.get("type")
    if not isinstance(type_, str) or not isinstance(entry.get("name"), str):
        return None
    return identity_of(workload_name, entry["name"], type_, entry.get("class"), entry.get("id"))


def removed_entries(
    workload_name: str, previous: Sequence[Mapping[str, Any]], wanted: Mapping[str, str]
) -> list[Mapping[str, Any]]:
    """The status.resources entries of resources the Workload no longer asks for
    (``wanted``: ``identities_of_spec``). Identities are compared whole: a resource whose
    id or class changed is another resource, and the old one is let go."""
    keep = set(wanted.values())
    return [e for e in previous if identity_of_entry(workload_name, e) not in keep]
