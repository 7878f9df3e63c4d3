"""Recording revisions (pure): when a Workload is due one, which digest each image gets,
and the revision itself.

A Workload is due a revision once per generation: when that generation is first Ready
(``due``). The digest of each image is, in this order: the one the spec already pins
(Spec); the one its Pods' kubelets reported as imageID, where every Pod running that
image agrees (Pod); else the registry's, which the caller asks for (``needs_registry``)
and hands back (``from_registry``). Identical pinned specs share one revision
(``template_hash``): a generation that pins to a spec already recorded makes no new
object — no snapshot per change, so nothing loops with GitOps or piles up in etcd.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.api.common import API_VERSION
from berth.api.revision import PinnedImage
from berth.names import MANAGED_BY_LABEL, MANAGED_BY_VALUE, WORKLOAD_LABEL
from berth.promotion.pinning import digest_of_image_id, parse_reference, pin
from berth.render.pods import PodSummary

REVISION_KIND = "WorkloadRevision"


def condition(status: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def is_ready_at(workload: Mapping[str, Any], generation: int | None = None) -> bool:
    """Ready=True, for the generation given (default: the Workload's current one)."""
    meta, status = workload.get("metadata") or {}, workload.get("status") or {}
    wanted = meta.get("generation") if generation is None else generation
    ready = condition(status, "Ready")
    return (
        wanted is not None
        and status.get("observedGeneration") == wanted
        and ready is not None
        and ready.get("status") == "True"
    )


def due(workload: Mapping[str, Any]) -> bool:
    """Is the Workload's generation Ready and not yet recorded (nor matched to a revision)?
    A Workload being deleted is due nothing."""
    meta = workload.get("metadata") or {}
    recorded = ((workload.get("status") or {}).get("revision") or {}).get("workloadGeneration")
    deleting = bool(meta.get("deletionTimestamp"))
    return is_ready_at(workload) and recorded != meta.get("generation") and not deleting


def revision_name(workload: str, number: int) -> str:
    return f"{workload}-r{number}"


def spec_images(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(container, image) of every container, by name."""
    containers = spec.get("containers") or {}
    return [(name, str(containers[name].get("image", ""))) for name in sorted(containers)]


def _pod_digests(container: str, image: str, pods: Sequence[PodSummary]) -> set[str]:
    found: set[str] = set()
    for pod in pods:
        if pod.deleting:
            continue
        for status in pod.containers:
            if status.name == container and status.image == image:
                digest = digest_of_image_id(status.image_id)
                if digest:
                    found.add(digest)
    return found


def pinned_without_registry(
    spec: Mapping[str, Any], pods: Sequence[PodSummary]
) -> dict[str, PinnedImage | str]:
    """Per container, its PinnedImage where the spec or the Pods say the digest, else
    the image to ask the registry for (a string)."""
    result: dict[str, PinnedImage | str] = {}
    for container, image in spec_images(spec):
        ref = parse_reference(image)
        if ref.pinned:
            result[container] = PinnedImage(
                container=container, image=image, pinned=image, digest=ref.digest, source="Spec"
            )
            continue
        digests = _pod_digests(container, image, pods)
        if len(digests) == 1:
            digest = next(iter(digests))
            result[container] = PinnedImage(
                container=container,
                image=image,
                pinned=pin(image, digest),
                digest=digest,
                source="Pod",
            )
        else:
            result[container] = image
    return result


def needs_registry(found: Mapping[str, PinnedImage | str]) -> dict[str, str]:
    """container -> image, for those the spec and the Pods did not pin."""
    return {name: value for name, value in found.items() if isinstance(value, str)}


def from_registry(
    container: str, image: str, digest: str | None, message: str | None
) -> PinnedImage:
    """The registry's answer for one image: its digest, or why there is none."""
    if digest:
        return PinnedImage(
            container=container,
            image=image,
            pinned=pin(image, digest),
            digest=digest,
            source="Registry",
        )
    return PinnedImage(
        container=container,
        image=image,
        pinned=image,
        source="Unresolved",
        message=message or "no digest could be had",
    )


def pinned_template(spec: Mapping[str, Any], images: Sequence[PinnedImage]) -> dict[str, Any]:
    """The spec with every image replaced by its pinned form."""
    template = json.loads(json.dumps(spec))  # a deep copy of plain JSON values
    by_container = {image.container: image for image in images}
    for name, container in (template.get("containers") or {}).items():
        if name in by_container:
            container["image"] = by_container[name].pinned
    return template  # type: ignore[no-any-return]


def template_hash(template: Mapping[str, Any]) -> str:
    """sha256 of the template without its environment (which differs between the
    Environments a revision moves through)."""
    body = {key: value for key, value in template.items() if key != "environment"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Origin:
    """The Promotion (``<namespace>/<name>``) and revision that wrote the generation."""

    promotion: str | None = None
    revision: str | None = None

    def as_spec(self) -> dict[str, str] | None:
        body = {k: v for k, v in (("promotion", self.promotion), ("revision", self.revision)) if v}
        return body or None


def next_number(revisions: Sequence[Mapping[str, Any]], status: Mapping[str, Any] | None) -> int:
    """One more than any number seen: in the revisions that exist, the current one and
    the history (so that a number is not reused while a revision of it is remembered)."""
    seen = [int((r.get("spec") or {}).get("revision") or 0) for r in revisions]
    status = status or {}
    seen.append(int((status.get("revision") or {}).get("number") or 0))
    seen.extend(int(entry.get("number") or 0) for entry in status.get("history") or [])
    return max(seen, default=0) + 1


def identical(revisions: Sequence[Mapping[str, Any]], digest: str) -> Mapping[str, Any] | None:
    """The newest revision whose template hash is ``digest``."""
    same = [r for r in revisions if (r.get("spec") or {}).get("hash") == digest]
    return max(same, key=lambda r: int(r["spec"]["revision"]), default=None)


def revision_manifest(
    workload: Mapping[str, Any],
    environment: Mapping[str, Any],
    number: int,
    images: Sequence[PinnedImage],
    origin: Origin,
) -> dict[str, Any]:
    """The WorkloadRevision to create, owned by the Workload (it goes with it)."""
    meta = workload["metadata"]
    template = pinned_template(workload.get("spec") or {}, images)
    spec: dict[str, Any] = {
        "workload": meta["name"],
        "revision": number,
        "environment": environment["metadata"]["name"],
        "environmentGeneration": int(environment["metadata"].get("generation") or 0),
        "workloadGeneration": int(meta.get("generation") or 0),
        "template": template,
        "images": [image.model_dump(mode="json", exclude_none=True) for image in images],
        "hash": template_hash(template),
    }
    if origin.as_spec():
        spec["origin"] = origin.as_spec()
    return {
        "apiVersion": API_VERSION,
        "kind": REVISION_KIND,
        "metadata": {
            "name": revision_name(meta["name"], number),
            "namespace": meta["namespace"],
            "labels": {WORKLOAD_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            "ownerReferences": [
                {
                    "apiVersion": workload.get("apiVersion", API_VERSION),
                    "kind": "Workload",
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "spec": spec,
    }
