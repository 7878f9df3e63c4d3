"""The cluster's catalogue of provisioners: the ClusterProvisioners, parsed once each."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from berth.api import ClusterProvisioner
from berth.handlers.cache import Cache

log = logging.getLogger("berth")


class Catalogue:
    """Parsed ClusterProvisioners by (name, resourceVersion): a reconcile parses only what
    changed, and forgets what is gone."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], ClusterProvisioner | None] = {}

    def parse(self, body: Mapping[str, Any]) -> ClusterProvisioner | None:
        """One ClusterProvisioner, parsed; None when invalid (it serves nothing)."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("name")), str(meta.get("resourceVersion")))
        if key not in self._parsed:
            try:
                self._parsed[key] = ClusterProvisioner.model_validate(body)
            except ValidationError as error:
                # The CRD's schema admits nothing the model refuses; an object written
                # before a schema change might. It serves nothing until fixed.
                log.warning("ClusterProvisioner %s is ignored: %s", key[0], error)
                self._parsed[key] = None
        return self._parsed[key]

    def provisioners(self, cache: Cache) -> list[ClusterProvisioner]:
        """The cluster's ClusterProvisioners, parsed (invalid ones left out, with a
        warning)."""
        found = [self.parse(body) for body in cache.cluster_provisioners()]
        live = {(d.name, d.metadata.resource_version or "None") for d in found if d is not None}
        for key in [k for k, v in self._parsed.items() if v is not None and k not in live]:
            del self._parsed[key]
        return [d for d in found if d is not None]
