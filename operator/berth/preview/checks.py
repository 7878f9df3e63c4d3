"""What can be wrong with a preview, each as a Problem with a message to act on (pure).

The same checks serve a preview Environment and a Preview (the request), so the two say
the same thing for the same mistake. None of them touches the base: a bad preview waits
or stalls on its own status.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from berth.api.preview import PreviewPolicy, parse_duration
from berth.problems import Problem
from berth.reasons import Reason

# How a check reads another Environment by name (from the cache); None when there is none.
Lookup = Callable[[str], Mapping[str, Any] | None]
# Problems a preview waits out (the base may appear, a slot may free up), as opposed to
# those someone must fix.
WAITING_REASONS = frozenset({Reason.BASE_NOT_FOUND, Reason.PREVIEW_QUOTA_EXCEEDED})


def _spec(env: Mapping[str, Any]) -> Mapping[str, Any]:
    return env.get("spec") or {}


def _base_of(env: Mapping[str, Any]) -> str | None:
    spec = _spec(env)
    if spec.get("type") != "preview":
        return None
    base = (spec.get("preview") or {}).get("base")
    return str(base) if base else None


def _chain(start: str, first_base: str, lookup: Lookup) -> list[str]:
    """``start``, its base, that one's base... until a non-preview, a missing one, or a
    name seen before (then the list ends with it: a cycle)."""
    chain = [start, first_base]
    while True:
        env = lookup(chain[-1])
        following = _base_of(env) if env is not None else None
        if following is None:
            return chain
        chain.append(following)
        if following in chain[:-1]:
            return chain


def base_problem(name: str, base: str, lookup: Lookup) -> Problem | None:
    """The base does not exist, is being deleted, is itself a preview (or a cycle
    leads back here), or does not accept previews."""
    body = lookup(base)
    if body is None:
        return Problem(
            Reason.BASE_NOT_FOUND,
            f"base Environment {base!r} does not exist: the preview waits for it (create "
            "it, or name an existing Environment as the base)",
        )
    if body["metadata"].get("deletionTimestamp"):
        return Problem(
            Reason.BASE_NOT_FOUND,
            f"base Environment {base!r} is being deleted: the preview waits for it to be "
            "created again",
        )
    if _base_of(body) is not None:
        chain = _chain(name, base, lookup)
        if chain[-1] in chain[:-1]:
            return Problem(
                Reason.PREVIEW_CYCLE,
                f"previews form a cycle: {' -> '.join(chain)}; a preview's base must be an "
                "Environment of another type",
            )
        return Problem(
            Reason.BASE_IS_PREVIEW,
            f"base Environment {base!r} is itself a preview (of {_base_of(body)!r}); a "
            "preview's base must be an Environment of another type",
        )
    if _spec(body).get("previews") is None:
        return Problem(
            Reason.PREVIEWS_NOT_ALLOWED,
            f"base Environment {base!r} does not accept previews: it has no spec.previews "
            "(the platform team sets it on the Environments that may have previews)",
        )
    return None


def policy_of(base: Mapping[str, Any]) -> PreviewPolicy:
    """The base's ``spec.previews``; an unset or unreadable one allows defaults only."""
    try:
        return PreviewPolicy.model_validate(_spec(base).get("previews") or {})
    except ValidationError:
        return PreviewPolicy()


@dataclass(frozen=True)
class TTL:
    """The ttl in force (as written, and as a duration)."""

    text: str
    duration: datetime.timedelta


def ttl_in_force(asked: str | None, policy: PreviewPolicy) -> TTL | Problem:
    """The ttl asked for, or the base's default; a Problem when it does not parse or is
    longer than the base allows."""
    text = asked or policy.default_ttl_value()
    try:
        duration = parse_duration(text)
    except ValueError as err:
        return Problem(Reason.INVALID_TTL, f"ttl: {err}")
    cap = policy.ttl_cap()
    if cap is not None and duration > cap:
        return Problem(
            Reason.TTL_TOO_LONG,
            f"ttl {text} is longer than the base allows (previews.maxTTL {policy.max_ttl}): "
            f"ask for {policy.max_ttl} or less",
        )
    return TTL(text, duration)
