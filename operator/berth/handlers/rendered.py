"""What a Workload's children were last rendered from, so that a reconcile that finds
the same inputs need not render them again.

A reconcile that ends well (children applied, nothing refused, nothing waited for)
remembers what it rendered from — the Workload's generation, its Environment's uid and
generation, and the operator's version, which covers its rendering code — together with
what its status reads of the render (desired replicas, endpoint, URL). The memory lives
in the Context while the operator runs, and on the Workload's status
(``status.renderedFrom``, riding along with a status write that happens anyway) across
restarts and shard moves.

A later reconcile skips the render, the provisioning and the apply, and only computes
the status from the Deployment and the Pods, when all of these hold:

- the Workload asks for no resources (their outputs come from claims and Secrets that
  are not watched: only a provisioning pass can tell whether they changed);
- its Environment is no preview (a preview's Workloads are rendered from its base too);
- what it would be rendered from is what was remembered;
- its children in the cache are the ones it applied, all of them this Workload's (by
  its uid), none being deleted, and none written by anyone but us since our last apply
  (their managedFields say so; a write of ours is always from a render whose inputs
  are recorded).

Anything else takes the whole way; so does every reconcile the periodic resync makes
after a restart has passed, since the memory then comes from the last good render.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import berth
from berth.kube.children import untouched_since_our_apply
from berth.preview.inherit import base_name

# The packages whose code decides what is rendered: a change to any of them is a new
# "operator version" for the record, even under the same release number.
RENDERING_PACKAGES = ("api", "render", "provision")


@functools.cache
def operator_version() -> str:
    """The release, and a digest of the rendering code it runs (read once)."""
    digest = hashlib.sha256()
    root = Path(berth.__file__).parent
    for package in RENDERING_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{berth.__version__}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class Rendered:
    """What a good render was made from, and what the status reads of it."""

    source: Mapping[str, Any]  # the status's renderedFrom
    desired_replicas: int | None
    endpoint: str | None
    url: str | None
    children: frozenset[tuple[str, str]]  # (kind, name) of the children it applied

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Rendered | None:
        """As the Workload's status recorded it, if it did."""
        status = status or {}
        source = status.get("renderedFrom")
        if not isinstance(source, Mapping):
            return None
        desired = (status.get("replicas") or {}).get("desired")
        return cls(
            source=dict(source),
            desired_replicas=desired if isinstance(desired, int) else None,
            endpoint=status.get("endpoint"),
            url=status.get("url"),
            children=frozenset(
                (str(o.get("kind")), str(o.get("name")))
                for o in status.get("managedObjects") or []
                if isinstance(o, Mapping)
            ),
        )


def source_of(
    workload: Mapping[str, Any], environment: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """What a Workload would be rendered from now (None without an Environment)."""
    if environment is None:
        return None
    env_meta = environment.get("metadata") or {}
    return {
        "generation": int(workload["metadata"].get("generation") or 0),
        "environmentUid": str(env_meta.get("uid") or ""),
        "environmentGeneration": int(env_meta.get("generation") or 0),
        "operatorVersion": operator_version(),
    }


def unchanged(
    remembered: Rendered | None,
    workload: Mapping[str, Any],
    environment: Mapping[str, Any] | None,
    children: Sequence[Mapping[str, Any]],
) -> bool:
    """Whether the children stand as the remembered render left them, from the inputs
    the Workload has now (see the module's docstring for the rules)."""
    if remembered is None or ((workload.get("spec") or {}).get("resources")):
        return False
    if environment is not None and base_name(environment):
        return False  # a preview's: rendered from its base too, which the record lacks
    if source_of(workload, environment) != dict(remembered.source):
        return False
    if {(c["kind"], c["metadata"]["name"]) for c in children} != remembered.children:
        return False
    # Every annotation on the child counts as ours here: a foreign write that touched
    # only annotations sends it the whole way, which is merely slower.
    # A child adopted from a former Workload of the name (no owner reference to this
    # one yet) takes the whole way too: the apply makes it this one's.
    uid = workload["metadata"].get("uid")
    return all(
        not c["metadata"].get("deletionTimestamp")
        and _controller_uid(c) == uid
        and untouched_since_our_apply(c, c)
        for c in children
    )


def _controller_uid(child: Mapping[str, Any]) -> str | None:
    refs = child["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in refs if r.get("controller")), None)
