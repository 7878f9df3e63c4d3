"""What the API server refused a Workload, remembered so that it is not sent again.

A child the API server refuses for good (400, 422, an admission webhook's denial) is
refused again as long as nothing it depends on changes. The refusal is remembered with
the fingerprint of the inputs it was rendered from — the Workload's generation, its
Environment's generation, the ClusterProvisioners' resourceVersions, Berth's version and
the hash of every desired manifest — and, on the refusal itself, the hash of the refused
manifest and the version of the object it was sent over (``berth.kube.children.Refusal``).
A reconcile with the same fingerprint (a resync, a neighbour's wake-up) reports the same
refusal without sending anything; any change of those inputs sends it once more.

The memory belongs to the Runtime (``Context.refusals``): a new Runtime starts from
nothing, and a Workload deleted is forgotten. Refusals that may clear by themselves (403:
a grant may come; 409) are not remembered: they are retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from berth import __version__
from berth.handlers.cache import Cache
from berth.handlers.keys import WorkloadKey
from berth.kube.children import NameConflict, Refusal, manifest_hash
from berth.problems import Problem
from berth.reasons import Reason


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    refusal: Refusal


class RefusalMemory:
    """The last permanent refusal of each Workload, with the fingerprint of its inputs."""

    def __init__(self) -> None:
        self._by_workload: dict[WorkloadKey, Remembered] = {}

    def __len__(self) -> int:
        return len(self._by_workload)

    def __contains__(self, key: object) -> bool:
        return key in self._by_workload

    def recall(self, key: WorkloadKey, fingerprint: str) -> Refusal | None:
        """The refusal remembered for these very inputs; None when there is none."""
        found = self._by_workload.get(key)
        if found is None or found.fingerprint != fingerprint:
            return None
        return found.refusal

    def remember(self, key: WorkloadKey, fingerprint: str, refusal: Refusal) -> None:
        self._by_workload[key] = Remembered(fingerprint, refusal)

    def forget(self, key: WorkloadKey) -> None:
        self._by_workload.pop(key, None)


def _generation(body: Mapping[str, Any] | None) -> int | None:
    if body is None:
        return None
    return int((body.get("metadata") or {}).get("generation") or 0)


def fingerprint(
    cache: Cache,
    body: Mapping[str, Any],
    env_body: Mapping[str, Any] | None,
    manifests: Iterable[Mapping[str, Any]],
) -> str:
    """The fingerprint of what a Workload's children are rendered from. Generations, not
    resourceVersions, for the Workload and its Environment: Berth writes their status,
    which moves the resourceVersion and changes nothing a child is made of."""
    meta = body.get("metadata") or {}
    parts = {
        "workload": [meta.get("uid"), _generation(body)],
        "environment": [
            (env_body or {}).get("metadata", {}).get("name"),
            _generation(env_body),
        ],
        "clusterProvisioners": sorted(
            [
                str((p.get("metadata") or {}).get("name")),
                str((p.get("metadata") or {}).get("resourceVersion")),
            ]
            for p in cache.cluster_provisioners()
        ),
        "berth": __version__,
        "manifests": [manifest_hash(m) for m in manifests],
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def name_taken(conflict: NameConflict, namespace: str) -> Problem:
    key = conflict.key
    return Problem(
        Reason.NAME_TAKEN,
        f"{key.kind} {key.name} already exists in namespace {namespace} and belongs to "
        f"{conflict.owner}; Berth never writes over an object it did not make for this "
        f"Workload: rename the Workload, or remove that {key.kind}",
    )


def refused_problem(refusal: Refusal) -> Problem:
    """The API server's answer, word for word, with the child it was about."""
    key = refusal.key
    reason = {403: Reason.CHILD_FORBIDDEN, 409: Reason.CHILD_CONFLICT}.get(
        refusal.status, Reason.CHILD_REJECTED
    )
    what = "refused" if refusal.permanent else "refused (retrying)"
    return Problem(
        reason, f"the API server {what} {key.kind} {key.name} ({refusal.status}): {refusal.message}"
    )
