"""The rules of an Environment's policy, each written once: its Python check beside its
CEL twin, and one message template for both (pure).

A rule's message says the field at fault, the rule (``policy.<key>``) and the fix. The
Python side (``check``) returns, per violation, the template's slots as text; the CEL
side says the same over the admission request: ``object`` is the Workload, ``params``
its Environment, ``x`` the item a per-item rule looks at (a container's or a resource's
name, in sorted order, as Python's ``sorted`` gives them). ``berth.render.admission``
puts the CEL into the ValidatingAdmissionPolicies; ``berth.render.policy`` runs the
Python. The e2e test ``test_policy_properties`` feeds both the same Workloads and
compares verdicts and messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from berth.api.environment import Environment
from berth.api.policy import EnvironmentPolicy
from berth.api.workload import Workload
from berth.reasons import Reason
from berth.render.compute import effective_replicas, merged_resources
from berth.render.images import (
    LATEST_TAG,
    cel_has_digest,
    cel_has_tag,
    cel_pinned,
    cel_qualified_image,
    cel_tag,
    parse_image,
)
from berth.render.wording import cel_fill, cel_string, fill

Slots = dict[str, str]

POLICY = "params.spec.policy"
# The admission policy's variables the rules read (berth.render.admission defines them).
CONTAINER_NAMES = "variables.containerNames"
RESOURCE_NAMES = "variables.resourceNames"
CONTAINER_IMAGE = "object.spec.containers[x].image"


@dataclass(frozen=True)
class Rule:
    """One rule of EnvironmentPolicy, in Python and in CEL."""

    key: str  # its field in spec.policy (and in spec.policy.enforcement)
    reason: Reason
    template: str  # the message; slot {environment} is the Environment's name
    active: Callable[[EnvironmentPolicy], bool]  # is the rule set?
    check: Callable[[Workload, Environment], list[Slots]]  # slots per violation
    cel_active: str  # CEL: is the rule set?
    cel_violates: str  # CEL: does the Workload (or item x) break it?
    cel_slots: Mapping[str, str] = field(default_factory=dict)  # CEL: each slot's text
    cel_items: str | None = None  # CEL list of the items x; None: checked once

    def cel_messages(self) -> str:
        """CEL: the list of messages (empty when the rule is kept or not set)."""
        message = cel_fill(self.template, {"environment": "params.metadata.name", **self.cel_slots})
        if self.cel_items is None:
            found = f"({self.cel_violates}) ? [{message}] : []"
        else:
            found = f"{self.cel_items}.filter(x, {self.cel_violates}).map(x, {message})"
        return f"({self.cel_active}) ? ({found}) : []"


def _present(key: str) -> str:
    return f"params.spec.?policy.?{key}.hasValue()"


def _enabled(key: str) -> str:
    return f"params.spec.?policy.?{key}.orValue(false)"


def _policy(environment: Environment) -> EnvironmentPolicy:
    policy = environment.spec.policy
    assert policy is not None  # rules are checked only where a policy is set
    return policy


# -- allowedRegistries -------------------------------------------------------------------

READ_AS = " (read as {qualified!q})"


def _registries(workload: Workload, environment: Environment) -> list[Slots]:
    prefixes = _policy(environment).allowed_registries or []
    found = []
    for name in sorted(workload.spec.containers):
        image = parse_image(workload.spec.containers[name].image)
        if not any(image.qualified.startswith(prefix) for prefix in prefixes):
            read_as = fill(READ_AS, qualified=image.qualified)
            found.append(
                {
                    "container": name,
                    "image": image.image,
                    "read_as": read_as if image.qualified != image.image else "",
                    "allowed": ", ".join(prefixes),
                }
            )
    return found


_QUALIFIED = cel_qualified_image(CONTAINER_IMAGE)

ALLOWED_REGISTRIES = Rule(
    key="allowedRegistries",
    reason=Reason.IMAGE_NOT_ALLOWED,
    template=(
        "container {container!q} image {image!q}{read_as} is not from a registry that "
        "Environment {environment!q} allows (policy.allowedRegistries: {allowed}); use an "
        "image that starts with one of them"
    ),
    active=lambda policy: policy.allowed_registries is not None,
    check=_registries,
    cel_active=_present("allowedRegistries"),
    cel_items=CONTAINER_NAMES,
    cel_violates=f"!{POLICY}.allowedRegistries.exists(p, {_QUALIFIED}.startsWith(p))",
    cel_slots={
        "container": "x",
        "image": CONTAINER_IMAGE,
        "read_as": (
            f"{_QUALIFIED} == {CONTAINER_IMAGE} ? '' : "
            f"{cel_fill(READ_AS, {'qualified': _QUALIFIED})}"
        ),
        "allowed": f"{POLICY}.allowedRegistries.join(', ')",
    },
)

# -- maxReplicas --------------------------------------------------------------------------

DEFAULT_ORIGIN = " (the Environment's default)"


def _replicas(workload: Workload, environment: Environment) -> list[Slots]:
    maximum = _policy(environment).max_replicas
    replicas = effective_replicas(workload, environment)
    if maximum is None or replicas <= maximum:
        return []
    origin = "" if workload.spec.replicas is not None else DEFAULT_ORIGIN
    return [{"replicas": str(replicas), "origin": origin, "maximum": str(maximum)}]


_REPLICAS = (
    "(has(object.spec.replicas) ? object.spec.replicas : "
    "params.spec.?defaults.?replicas.orValue(1))"
)

MAX_REPLICAS = Rule(
    key="maxReplicas",
    reason=Reason.REPLICAS_ABOVE_LIMIT,
    template=(
        "replicas {replicas}{origin} is above the maximum of {maximum} that Environment "
        "{environment!q} allows (policy.maxReplicas); set spec.replicas to {maximum} or fewer"
    ),
    active=lambda policy: policy.max_replicas is not None,
    check=_replicas,
    cel_active=_present("maxReplicas"),
    cel_violates=f"{_REPLICAS} > {POLICY}.maxReplicas",
    cel_slots={
        "replicas": f"string({_REPLICAS})",
        "origin": f"has(object.spec.replicas) ? '' : {cel_string(DEFAULT_ORIGIN)}",
        "maximum": f"string({POLICY}.maxReplicas)",
    },
)

# -- requireLimits ------------------------------------------------------------------------

REQUIRED_LIMITS = ("cpu", "memory")


def _limits(workload: Workload, environment: Environment) -> list[Slots]:
    found = []
    containers = workload.spec.containers
    for name in sorted(containers):
        resources, _ = merged_resources(name, containers[name], environment)
        limits = resources.get("limits", {})
        missing = [key for key in REQUIRED_LIMITS if key not in limits]
        if missing:
            found.append(
                {
                    "container": name,
                    "missing": " and ".join(missing),
                    "fields": " and ".join(f"resources.limits.{key}" for key in missing),
                }
            )
    return found


_MISSING_LIMITS = (
    f"[{', '.join(cel_string(key) for key in REQUIRED_LIMITS)}].filter(k, "
    "!(object.spec.containers[x].?resources.?limits[?k].hasValue() || "
    "params.spec.?defaults.?containerResources.?limits[?k].hasValue()))"
)

REQUIRE_LIMITS = Rule(
    key="requireLimits",
    reason=Reason.LIMITS_REQUIRED,
    template=(
        "container {container!q} has no {missing} limit, which Environment {environment!q} "
        "requires (policy.requireLimits); set {fields}"
    ),
    active=lambda policy: policy.require_limits,
    check=_limits,
    cel_active=_enabled("requireLimits"),
    cel_items=CONTAINER_NAMES,
    cel_violates=f"{_MISSING_LIMITS}.size() > 0",
    cel_slots={
        "container": "x",
        "missing": f"{_MISSING_LIMITS}.join(' and ')",
        "fields": f"{_MISSING_LIMITS}.map(k, 'resources.limits.' + k).join(' and ')",
    },
)

# -- requireDigest ------------------------------------------------------------------------


def _digests(workload: Workload, environment: Environment) -> list[Slots]:
    containers = workload.spec.containers
    return [
        {"container": name, "image": containers[name].image}
        for name in sorted(containers)
        if not parse_image(containers[name].image).pinned
    ]


REQUIRE_DIGEST = Rule(
    key="requireDigest",
    reason=Reason.DIGEST_REQUIRED,
    template=(
        "container {container!q} image {image!q} is not pinned by digest, which Environment "
        "{environment!q} requires (policy.requireDigest); name the image by its digest, "
        "as <image>@sha256:<digest>"
    ),
    active=lambda policy: policy.require_digest,
    check=_digests,
    cel_active=_enabled("requireDigest"),
    cel_items=CONTAINER_NAMES,
    cel_violates=f"!{cel_pinned(CONTAINER_IMAGE)}",
    cel_slots={"container": "x", "image": CONTAINER_IMAGE},
)

# -- disallowLatestTag --------------------------------------------------------------------

NO_TAG = "names no tag (which means latest)"
TAGGED_LATEST = f"is tagged {LATEST_TAG}"


def _latest(workload: Workload, environment: Environment) -> list[Slots]:
    found = []
    containers = workload.spec.containers
    for name in sorted(containers):
        image = parse_image(containers[name].image)
        if image.digest is None and image.tag in (None, LATEST_TAG):
            what = NO_TAG if image.tag is None else TAGGED_LATEST
            found.append({"container": name, "image": image.image, "what": what})
    return found


DISALLOW_LATEST_TAG = Rule(
    key="disallowLatestTag",
    reason=Reason.LATEST_TAG_NOT_ALLOWED,
    template=(
        "container {container!q} image {image!q} {what}, which Environment {environment!q} "
        "does not allow (policy.disallowLatestTag); name a version tag or a digest"
    ),
    active=lambda policy: policy.disallow_latest_tag,
    check=_latest,
    cel_active=_enabled("disallowLatestTag"),
    cel_items=CONTAINER_NAMES,
    cel_violates=(
        f"!{cel_has_digest(CONTAINER_IMAGE)} && (!{cel_has_tag(CONTAINER_IMAGE)} || "
        f"{cel_tag(CONTAINER_IMAGE)} == {cel_string(LATEST_TAG)})"
    ),
    cel_slots={
        "container": "x",
        "image": CONTAINER_IMAGE,
        "what": (
            f"{cel_has_tag(CONTAINER_IMAGE)} ? {cel_string(TAGGED_LATEST)} : {cel_string(NO_TAG)}"
        ),
    },
)

# -- allowedResources ---------------------------------------------------------------------

TYPE_ASKED = "type {type!q}"
CLASS_ASKED = "class {class!q} of type {type!q}"
TYPES_OFFERED = ": {types}"
CLASSES_OFFERED = " classes of {type}: {classes}"
NONE_OFFERED = "none"
TYPES_FIX = "types"
CLASSES_FIX = "classes, or none"


def _resources(workload: Workload, environment: Environment) -> list[Slots]:
    allowed = {entry.type: entry.classes for entry in _policy(environment).allowed_resources or []}
    types = ", ".join(allowed) or NONE_OFFERED
    found = []
    resources = workload.spec.resources or {}
    for name in sorted(resources):
        asked = resources[name]
        if asked.type not in allowed:
            slots = {
                "asked": fill(TYPE_ASKED, type=asked.type),
                "offered": fill(TYPES_OFFERED, types=types),
                "fix": TYPES_FIX,
            }
        else:
            classes = allowed[asked.type]
            if classes is None or asked.class_ is None or asked.class_ in classes:
                continue
            slots = {
                "asked": fill(CLASS_ASKED, **{"class": asked.class_, "type": asked.type}),
                "offered": fill(CLASSES_OFFERED, type=asked.type, classes=", ".join(classes)),
                "fix": CLASSES_FIX,
            }
        found.append({"resource": name, **slots})
    return found


_ALLOWED = f"{POLICY}.allowedResources"
_ASKED = "object.spec.resources[x]"
_TYPE_OFFERED = f"{_ALLOWED}.exists(a, a.type == {_ASKED}.type)"
_ENTRY = f"{_ALLOWED}.filter(a, a.type == {_ASKED}.type)[0]"
_CLASS_OFFERED = (
    f"(!has({_ASKED}.class) || !has({_ENTRY}.classes) || "
    f"{_ENTRY}.classes.exists(c, c == {_ASKED}.class))"
)
_TYPES = (
    f"({_ALLOWED}.size() == 0 ? {cel_string(NONE_OFFERED)} : {_ALLOWED}.map(a, a.type).join(', '))"
)
_CLASS_SLOTS = {"class": f"{_ASKED}.class", "type": f"{_ASKED}.type"}
_OFFERED_CLASSES = {"type": f"{_ASKED}.type", "classes": f"{_ENTRY}.classes.join(', ')"}

ALLOWED_RESOURCES = Rule(
    key="allowedResources",
    reason=Reason.RESOURCE_NOT_ALLOWED,
    template=(
        "resource {resource!q} asks for {asked}, which Environment {environment!q} does not "
        "offer (policy.allowedResources{offered}); use one of those {fix}"
    ),
    active=lambda policy: policy.allowed_resources is not None,
    check=_resources,
    cel_active=_present("allowedResources"),
    cel_items=RESOURCE_NAMES,
    cel_violates=f"!{_TYPE_OFFERED} || !{_CLASS_OFFERED}",
    cel_slots={
        "resource": "x",
        "asked": (
            f"{_TYPE_OFFERED} ? {cel_fill(CLASS_ASKED, _CLASS_SLOTS)} : "
            f"{cel_fill(TYPE_ASKED, {'type': f'{_ASKED}.type'})}"
        ),
        "offered": (
            f"{_TYPE_OFFERED} ? {cel_fill(CLASSES_OFFERED, _OFFERED_CLASSES)} : "
            f"{cel_fill(TYPES_OFFERED, {'types': _TYPES})}"
        ),
        "fix": f"{_TYPE_OFFERED} ? {cel_string(CLASSES_FIX)} : {cel_string(TYPES_FIX)}",
    },
)

# The order findings are reported in, by the operator and at admission alike.
RULES: tuple[Rule, ...] = (
    ALLOWED_REGISTRIES,
    MAX_REPLICAS,
    REQUIRE_LIMITS,
    REQUIRE_DIGEST,
    DISALLOW_LATEST_TAG,
    ALLOWED_RESOURCES,
)
