"""A preview's effective Environment: the preview over its base, field by field (pure).

The rules (docs/guides/previews.md has them as a table):

- ``defaults`` and ``policy``: merged key by key, recursively (so ``defaults.
  containerResources.requests.cpu`` of the preview wins over the base's, and the base's
  ``requests.memory`` stays); a list or a plain value is the preview's where it sets
  one, else the base's. Any field these sections gain later follows the same rule.
- ``routes``: the preview's when it sets them, else the base's, whole.
- ``provisioners``: the preview's own first; then each of the base's whose selector
  (type, class, id) none of the preview's has. Matching then works as for any
  Environment (the most specific wins; ties to the first listed).
- ``type``, ``namespace``, ``deletionPolicy``, ``preview``: the preview's own, never the
  base's (a preview's deletionPolicy defaults to Delete whatever its base keeps).
- anything else (``previews``, and whatever the base says that is not listed above):
  never inherited.

The stored objects carry no server-side defaults in ``defaults`` and ``policy`` (see
``berth.api.environment``), so "set" means "written by the preview's author".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

MERGED_SECTIONS = ("defaults", "policy")
WHOLE_SECTIONS = ("routes",)


def merged(base: Any, own: Any) -> Any:
    """``own`` over ``base``: mappings key by key, recursively; anything else, ``own``
    where it is given."""
    if own is None:
        return copy.deepcopy(base)
    if isinstance(base, Mapping) and isinstance(own, Mapping):
        result = {key: copy.deepcopy(value) for key, value in base.items()}
        for key, value in own.items():
            result[key] = merged(base.get(key), value)
        return result
    return copy.deepcopy(own)


def _selector(provisioner: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return (provisioner.get("type"), provisioner.get("class"), provisioner.get("id"))


def merged_provisioners(
    own: Sequence[Mapping[str, Any]] | None, base: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The preview's provisioners, then the base's that none of them replaces."""
    mine = [copy.deepcopy(dict(p)) for p in own or []]
    taken = {_selector(p) for p in mine}
    return mine + [copy.deepcopy(dict(p)) for p in base or [] if _selector(p) not in taken]


def effective_spec(own: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The spec a preview's Workloads run under: ``own`` (the preview's spec) over
    ``base`` (its base's), by the rules above."""
    spec = {key: copy.deepcopy(value) for key, value in own.items()}
    for section in MERGED_SECTIONS:
        value = merged(base.get(section), own.get(section))
        if value is not None:
            spec[section] = value
    for section in WHOLE_SECTIONS:
        if own.get(section) is None and base.get(section) is not None:
            spec[section] = copy.deepcopy(base[section])
    provisioners = merged_provisioners(own.get("provisioners"), base.get("provisioners"))
    if provisioners:
        spec["provisioners"] = provisioners
    return spec


def effective_environment(
    preview: Mapping[str, Any], base: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The preview's body with its effective spec (its own when there is no base)."""
    result = dict(preview)
    if base is not None:
        result["spec"] = effective_spec(preview.get("spec") or {}, base.get("spec") or {})
    return result


def base_name(environment: Mapping[str, Any]) -> str | None:
    """The base a preview Environment names, or None for any other Environment."""
    spec = environment.get("spec") or {}
    if spec.get("type") != "preview":
        return None
    base = (spec.get("preview") or {}).get("base")
    return str(base) if base else None


def preview_homes(environments: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each preview's namespace -> its base's namespace, for the previews whose base is
    among ``environments``. With --shards, a preview's namespace is in its base's shard
    bucket: the preview is made from its base's Workloads, so one replica holds both.
    Where two Environments claim one namespace, the oldest (which owns it) decides. A
    base that is itself a preview is refused (BaseIsPreview), so one step is enough."""
    environments = sorted(
        environments,
        key=lambda e: (str(e["metadata"].get("creationTimestamp") or ""), e["metadata"]["name"]),
    )
    namespaces = {
        str(env["metadata"]["name"]): str((env.get("spec") or {}).get("namespace") or "")
        for env in environments
    }
    homes: dict[str, str] = {}
    for env in environments:
        base = base_name(env)
        own = namespaces.get(str(env["metadata"]["name"]))
        home = namespaces.get(base) if base else None
        if own and home and own != home:
            homes.setdefault(own, home)
    return homes
