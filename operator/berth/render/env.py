"""Environment variables, command and args of a container, with placeholders resolved.

Secret outputs never appear as literals:

- a variable whose value is exactly one secret placeholder becomes
  ``valueFrom.secretKeyRef``;
- a secret inside a longer value (or in command/args) is read into a hidden variable
  ``BERTH_SECRET_<RESOURCE>_<OUTPUT>`` (from a secretKeyRef) and referenced with
  Kubernetes' dependent-variable syntax ``$(NAME)``. Hidden variables come first, so they
  are defined before they are used.

Kubernetes expands ``$(NAME)`` and reduces ``$$`` to ``$`` in env values, command and
args. Score values are literal, so every ``$`` of user text that Kubernetes would treat
specially (one followed by ``$`` or ``(``, or by an inserted ``$(NAME)``) is doubled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.api.container import RESERVED_VARIABLE_PREFIX, Container
from berth.problems import Problem
from berth.render.errors import RenderError
from berth.render.outputs import SecretRef
from berth.render.placeholders import Resolved, Resolver, SecretUse

HIDDEN_PREFIX = RESERVED_VARIABLE_PREFIX

_SPECIAL_DOLLAR = re.compile(r"\$(?=[$(])")


def escape_expansion(text: str, *, before_reference: bool = False) -> str:
    """Escape ``text`` so Kubernetes' $(VAR) expansion leaves it as is.

    ``before_reference``: the text is followed by an inserted ``$(NAME)``, so a trailing
    ``$`` must be doubled too.
    """
    escaped = _SPECIAL_DOLLAR.sub("$$", text)
    if before_reference and text.endswith("$"):
        escaped += "$"
    return escaped


def _sanitise(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


def hidden_variable_names(uses: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Deterministic hidden variable names for (resource, output) pairs.

    ``BERTH_SECRET_<RESOURCE>_<OUTPUT>`` (uppercased, other characters as ``_``); pairs whose
    names would collide get a suffix from a hash of the pair.
    """
    base = {use: f"{HIDDEN_PREFIX}{_sanitise(use[0])}_{_sanitise(use[1])}" for use in uses}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    names: dict[tuple[str, str], str] = {}
    for use, name in base.items():
        if counts[name] > 1:
            digest = hashlib.sha256(f"{use[0]}\0{use[1]}".encode()).hexdigest()[:8].upper()
            name = f"{name}_{digest}"
        names[use] = name
    return names


@dataclass(frozen=True)
class ContainerEnv:
    """What a container gets: env (hidden variables first), command, args, secrets used."""

    env: list[dict[str, Any]]
    command: list[str] | None
    args: list[str] | None
    secret_refs: frozenset[SecretRef]


def _join(segments: list[Resolved], names: Mapping[tuple[str, str], str]) -> str:
    parts: list[str] = []
    for index, segment in enumerate(segments):
        if isinstance(segment, SecretUse):
            parts.append(f"$({names[(segment.resource, segment.output)]})")
        else:
            following = segments[index + 1] if index + 1 < len(segments) else None
            parts.append(
                escape_expansion(segment, before_reference=isinstance(following, SecretUse))
            )
    return "".join(parts)


def _secret_key_ref(ref: SecretRef) -> dict[str, Any]:
    return {"secretKeyRef": {"name": ref.secret_name, "key": ref.key}}


def render_container_env(
    name: str, container: Container, resolver: Resolver
) -> tuple[ContainerEnv, list[Problem]]:
    """Resolve a container's variables, command and args. Problems are returned, not raised."""
    problems: list[Problem] = []

    def resolve(text: str, where: str) -> list[Resolved]:
        try:
            return resolver.segments(text, where)
        except RenderError as error:
            problems.extend(error.problems)
            return [text]

    variables = container.variables or {}
    values = {
        var: resolve(variables[var], f"container {name!r} variable {var!r}")
        for var in sorted(variables)
    }
    command = [
        resolve(item, f"container {name!r} command[{index}]")
        for index, item in enumerate(container.command or [])
    ]
    args = [
        resolve(item, f"container {name!r} args[{index}]")
        for index, item in enumerate(container.args or [])
    ]

    direct = {
        var: segments[0]
        for var, segments in values.items()
        if len(segments) == 1 and isinstance(segments[0], SecretUse)
    }
    hidden_uses: dict[tuple[str, str], SecretRef] = {}
    for segments in [
        *(segments for var, segments in values.items() if var not in direct),
        *command,
        *args,
    ]:
        for segment in segments:
            if isinstance(segment, SecretUse):
                hidden_uses[(segment.resource, segment.output)] = segment.ref
    names = hidden_variable_names(set(hidden_uses))

    hidden_env = sorted(
        (
            {"name": names[use], "valueFrom": _secret_key_ref(ref)}
            for use, ref in hidden_uses.items()
        ),
        key=lambda item: str(item["name"]),
    )
    user_env: list[dict[str, Any]] = []
    for var, segments in values.items():
        use = direct.get(var)
        if use is not None:
            user_env.append({"name": var, "valueFrom": _secret_key_ref(use.ref)})
        else:
            user_env.append({"name": var, "value": _join(segments, names)})

    secret_refs = frozenset(hidden_uses.values()) | frozenset(use.ref for use in direct.values())
    return (
        ContainerEnv(
            env=hidden_env + user_env,
            command=[_join(item, names) for item in command] if container.command else None,
            args=[_join(item, names) for item in args] if container.args else None,
            secret_refs=secret_refs,
        ),
        problems,
    )
