"""Image references and digests: what an image is, where it lives, and its pinned form.

An image reference is ``[host/]path[:tag][@digest]``. The first path component is the
registry host when it looks like one (a '.' or a ':' in it, or ``localhost``);
otherwise the reference names no registry and a runtime reads it with the reference
grammar's default one. Berth resolves digests only from a registry the image names:
an image that names none is resolved from its Pods' imageID, or left unresolved with
the reason.

Pinning keeps the tag for the reader (``app:1.4.2@sha256:...``): the runtime pulls by
the digest and ignores the tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# sha256 digests only: what registries and kubelets report, and what Berth writes.
SHA256_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_ID_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class ImageReference:
    """One image reference, taken apart."""

    image: str  # as written
    registry: str | None  # the host (with port), None when the reference names none
    repository: str  # the path within the registry
    tag: str | None
    digest: str | None  # as written after '@'

    @property
    def name(self) -> str:
        """host/path without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def pinned(self) -> bool:
        return self.digest is not None and SHA256_DIGEST.match(self.digest) is not None

    @property
    def reference(self) -> str:
        """What the distribution API is asked for: the digest, else the tag (or latest)."""
        return self.digest or self.tag or "latest"


def looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(image: str) -> ImageReference:
    """Take a reference apart; never raises (a malformed one fails where it is used)."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    registry = first if slash and looks_like_host(first) else None
    path = rest if registry else name
    last_slash = path.rfind("/")
    colon = path.find(":", last_slash + 1)
    tag = path[colon + 1 :] if colon >= 0 else None
    repository = path[:colon] if colon >= 0 else path
    return ImageReference(
        image=image,
        registry=registry,
        repository=repository,
        tag=tag,
        digest=digest if at else None,
    )


def pin(image: str, digest: str) -> str:
    """The image pinned to ``digest``, its tag kept: ``app:1.4@sha256:...``."""
    name, _, _ = image.partition("@")
    return f"{name}@{digest}"


def digest_of_image_id(image_id: str | None) -> str | None:
    """The manifest digest in a container status' imageID (``host/path@sha256:...``,
    also with a ``docker-pullable://`` prefix), or None. A bare ``sha256:...`` is an
    image's local id, not a registry digest, and is not taken."""
    if not image_id:
        return None
    found = _IMAGE_ID_DIGEST.search(image_id)
    return found.group(1) if found else None
