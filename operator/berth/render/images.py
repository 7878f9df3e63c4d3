"""Container image references, read the way container runtimes read them (pure).

An image reference is ``[registry/]path[:tag][@digest]``. Its first path component is the
registry when it looks like a host (it has a '.' or a ':', is ``localhost``, or has an
ASCII upper-case letter); otherwise the reference names no registry and is read with the
grammar's default domain (``berth.names.DEFAULT_IMAGE_DOMAIN``), and a one-component
path also under ``DEFAULT_IMAGE_NAMESPACE``: ``nginx:1.27`` is the default domain's
``library/nginx:1.27``.

Every function here has a CEL twin in ``berth.render.admission`` (the admission policy
reads images the same way); ``tests/e2e/test_policy_properties.py`` feeds both the same
references. So keep these to plain string operations that CEL has: split on the first
'/', '@', the last '/', the first ':'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.names import DEFAULT_IMAGE_DOMAIN, DEFAULT_IMAGE_NAMESPACE

# An OCI digest: algorithm ':' encoded (at least 32 hex digits, as sha256's 64 and
# sha512's 128 are). Written for RE2 and Python alike (the CEL twin uses it as it is).
DIGEST_PATTERN = r"^[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$"
LATEST_TAG = "latest"


@dataclass(frozen=True)
class ImageReference:
    """One image reference, taken apart."""

    image: str  # as written
    qualified: str  # with the default domain (and namespace) where it names no registry
    tag: str | None  # None: no tag written
    digest: str | None  # None: no digest written (the part after '@', as written)

    @property
    def pinned(self) -> bool:
        """Pinned by a well-formed digest: the runtime pulls exactly these bytes."""
        return self.digest is not None and re.match(DIGEST_PATTERN, self.digest) is not None


def names_registry(first_component: str) -> bool:
    """Is the first path component of a reference a registry host?"""
    return (
        "." in first_component
        or ":" in first_component
        or first_component == "localhost"
        or re.search("[A-Z]", first_component) is not None  # ASCII only, as CEL's lowerAscii
    )


def qualified_image(image: str) -> str:
    """The image with the default domain (and namespace) where it names no registry."""
    first, slash, _ = image.partition("/")
    if slash and names_registry(first):
        return image
    if slash:
        return f"{DEFAULT_IMAGE_DOMAIN}/{image}"
    return f"{DEFAULT_IMAGE_DOMAIN}/{DEFAULT_IMAGE_NAMESPACE}/{image}"


def parse_image(image: str) -> ImageReference:
    """Take a reference apart. Never raises: a malformed reference is read as far as it
    goes (the runtime refuses it later, and the Workload says so)."""
    name, at, digest = image.partition("@")
    last = name[name.rfind("/") + 1 :]
    colon = last.find(":")
    tag = last[colon + 1 :] if colon >= 0 else None
    return ImageReference(
        image=image,
        qualified=qualified_image(image),
        tag=tag,
        digest=digest if at else None,
    )


# -- the CEL twins: the same readings as CEL expressions over an image expression ----------
#
# Each takes the CEL expression of an image (e.g. "object.spec.containers[x].image") and
# returns a CEL expression; they say in CEL what the functions above say in Python.


def cel_qualified_image(image: str) -> str:
    """CEL: ``qualified_image``."""
    first = f"{image}.split('/')[0]"
    registry = (
        f"({first}.contains('.') || {first}.contains(':') || {first} == 'localhost' "
        f"|| {first}.lowerAscii() != {first})"
    )
    return (
        f"(({image}.contains('/') && {registry}) ? {image} : "
        f"({image}.contains('/') ? '{DEFAULT_IMAGE_DOMAIN}/' + {image} : "
        f"'{DEFAULT_IMAGE_DOMAIN}/{DEFAULT_IMAGE_NAMESPACE}/' + {image}))"
    )


def cel_has_digest(image: str) -> str:
    """CEL: a digest is written (``parse_image(image).digest is not None``)."""
    return f"{image}.contains('@')"


def cel_pinned(image: str) -> str:
    """CEL: ``parse_image(image).pinned``."""
    return (
        f"({image}.contains('@') && "
        f"{image}.substring({image}.indexOf('@') + 1).matches(r'{DIGEST_PATTERN}'))"
    )


def _cel_last_component(image: str) -> str:
    name = f"{image}.split('@')[0]"
    return f"{name}.substring({name}.lastIndexOf('/') + 1)"


def cel_has_tag(image: str) -> str:
    """CEL: a tag is written (``parse_image(image).tag is not None``)."""
    return f"{_cel_last_component(image)}.contains(':')"


def cel_tag(image: str) -> str:
    """CEL: ``parse_image(image).tag``, where one is written."""
    last = _cel_last_component(image)
    return f"{last}.substring({last}.indexOf(':') + 1)"
