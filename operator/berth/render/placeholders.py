"""Score placeholder substitution.

Syntax (Score v1b1):

- ``${metadata.name}``: the Workload's name;
- ``${metadata.annotations.<key>}``: an annotation from ``spec.metadata.annotations``
  (``${metadata.annotations}`` alone is refused, InvalidPlaceholder: as in Score's tools);
  Keys contain dots and slashes; Score escapes a literal dot as ``\\.``
  (``${metadata.annotations.example\\.com/owner}``). Since annotations are a flat map,
  unescaped dots after ``annotations.`` are also read as part of the key;
- ``${metadata.<key>[.<key>...]}``: any other (scalar) value of ``spec.metadata``;
- ``${resources.<name>.<output>}``: an output of a resource (dots after the resource name
  belong to the output key); ``${resources.<name>}`` alone is the resource itself, which
  only a volume ``source`` may use;
- ``$$`` is a literal ``$``, so ``$${`` is a literal ``${`` (as in Score's reference
  implementation, score-go); any other ``$`` is literal.
- a map or list value of ``spec.metadata`` is substituted as compact JSON, as score-go does.

Errors are ``PlaceholderError``s (a ``RenderError``) with a stable reason and a message
that says where the placeholder is, what it asked for, and what exists.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.api.workload import Workload
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.errors import RenderError
from berth.render.outputs import Outputs, SecretRef


class PlaceholderError(RenderError):
    """A placeholder that cannot be parsed or resolved."""


def _error(reason: str, message: str) -> PlaceholderError:
    return PlaceholderError([Problem(reason, message)])


@dataclass(frozen=True)
class Placeholder:
    """A ``${...}`` reference: its text as written and its unescaped path segments."""

    text: str
    path: tuple[str, ...]


Segment = str | Placeholder


@dataclass(frozen=True)
class SecretUse:
    """A placeholder that resolved to a secret output."""

    resource: str
    output: str
    ref: SecretRef
    placeholder: str


Resolved = str | SecretUse


def _split_path(body: str, text: str, where: str) -> tuple[str, ...]:
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and body.startswith(".", index + 1):
            current.append(".")
            index += 2
            continue
        if char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    if any(not segment for segment in segments):
        raise _error(
            Reason.INVALID_PLACEHOLDER,
            f"{where}: {text} has an empty part; write ${{metadata.<key>}} or "
            "${resources.<name>.<output>}",
        )
    return tuple(segments)


def parse(text: str, where: str) -> list[Segment]:
    """Split ``text`` into literal strings and placeholders. Adjacent literals are merged."""
    segments: list[Segment] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            literal.append("$")
            index += 2
            continue
        if text.startswith("${", index):
            end = text.find("}", index + 2)
            if end < 0:
                raise _error(
                    Reason.INVALID_PLACEHOLDER,
                    f"{where}: unterminated placeholder {text[index:]!r}; close it with '}}' "
                    "or write $${ for a literal ${",
                )
            whole = text[index : end + 1]
            body = text[index + 2 : end]
            if not body:
                raise _error(
                    Reason.INVALID_PLACEHOLDER,
                    f"{where}: empty placeholder ${{}}; write ${{metadata.<key>}} or "
                    "${resources.<name>.<output>}",
                )
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Placeholder(whole, _split_path(body, whole, where)))
            index = end + 1
            continue
        literal.append(text[index])
        index += 1
    if literal:
        segments.append("".join(literal))
    return segments


def placeholders(text: str, where: str) -> list[Placeholder]:
    """The placeholders in ``text``."""
    return [segment for segment in parse(text, where) if isinstance(segment, Placeholder)]


def _names(items: Iterable[str]) -> str:
    listed = sorted(items)
    return ", ".join(listed) if listed else "none"


def _as_text(value: Any) -> str:
    """A metadata value as text: strings as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Resolver:
    """Resolves placeholders of one Workload against the outputs of its resources."""

    def __init__(self, workload: Workload, outputs: Outputs) -> None:
        self._name = workload.metadata.name
        metadata = workload.spec.metadata
        self._annotations: dict[str, str] = dict(metadata.annotations or {}) if metadata else {}
        self._extra: dict[str, Any] = dict(metadata.model_extra or {}) if metadata else {}
        self._resources = set(workload.spec.resources or {})
        self._outputs = outputs

    # -- single placeholders -------------------------------------------------------------

    def resource_name(self, placeholder: Placeholder, where: str) -> str:
        """The resource a ``${resources.<name>...}`` placeholder names (checked to exist)."""
        path = placeholder.path
        if len(path) < 2 or path[0] != "resources":
            raise _error(
                Reason.INVALID_PLACEHOLDER,
                f"{where}: {placeholder.text} does not name a resource; "
                "write ${resources.<name>}",
            )
        name = path[1]
        if name not in self._resources:
            raise _error(
                Reason.UNKNOWN_RESOURCE,
                f"{where}: {placeholder.text} names resource {name!r}, which is not declared "
                f"in spec.resources (declared: {_names(self._resources)})",
            )
        return name

    def resource_outputs(
        self, name: str, placeholder: Placeholder, where: str
    ) -> Mapping[str, str | SecretRef]:
        """The outputs of resource ``name``, or OutputsUnavailable."""
        outputs = self._outputs.get(name)
        if outputs is None:
            raise PlaceholderError(
                [
                    Problem(
                        Reason.OUTPUTS_UNAVAILABLE,
                        f"{where}: {placeholder.text} needs resource {name!r}, whose outputs "
                        "are not available yet (it is not provisioned or not ready)",
                        resource=name,
                    )
                ]
            )
        return outputs

    def resolve(self, placeholder: Placeholder, where: str) -> Resolved:
        """The value of one placeholder: a string, or a SecretUse for a secret output."""
        root = placeholder.path[0]
        if root == "metadata":
            return self._metadata(placeholder, where)
        if root == "resources":
            return self._resource(placeholder, where)
        raise _error(
            Reason.INVALID_PLACEHOLDER,
            f"{where}: {placeholder.text} is not a known placeholder; placeholders start "
            "with metadata. or resources. (write $${ for a literal ${)",
        )

    def _metadata(self, placeholder: Placeholder, where: str) -> str:
        path = placeholder.path
        text = placeholder.text
        if len(path) == 1:
            raise _error(
                Reason.INVALID_PLACEHOLDER,
                f"{where}: {text} names all of metadata; write ${{metadata.name}} or "
                "${metadata.annotations.<key>}",
            )
        if path[1] == "name":
            if len(path) > 2:
                raise _error(
                    Reason.UNKNOWN_METADATA,
                    f"{where}: {text}: metadata.name is a string and has no keys",
                )
            return self._name
        if path[1] == "annotations":
            if len(path) == 2:
                # Score's tools refuse it too: an annotation is read by its key.
                raise _error(
                    Reason.INVALID_PLACEHOLDER,
                    f"{where}: {text} names all of the annotations; write "
                    f"${{metadata.annotations.<key>}} (present: {_names(self._annotations)})",
                )
            key = ".".join(path[2:])
            if key not in self._annotations:
                raise _error(
                    Reason.UNKNOWN_METADATA,
                    f"{where}: {text} names annotation {key!r}, which is not in "
                    f"spec.metadata.annotations (present: {_names(self._annotations)})",
                )
            return self._annotations[key]
        value: Any = self._extra
        for depth, key in enumerate(path[1:], start=1):
            if not isinstance(value, Mapping) or key not in value:
                walked = ".".join(path[:depth])
                present = _names(str(k) for k in value) if isinstance(value, Mapping) else "none"
                if depth == 1:
                    present = _names({"name", "annotations", *self._extra})
                raise _error(
                    Reason.UNKNOWN_METADATA,
                    f"{where}: {text} names key {key!r} of {walked}, which does not exist "
                    f"(present: {present})",
                )
            value = value[key]
        return _as_text(value)

    def _resource(self, placeholder: Placeholder, where: str) -> Resolved:
        path = placeholder.path
        text = placeholder.text
        if len(path) == 1:
            raise _error(
                Reason.INVALID_PLACEHOLDER,
                f"{where}: {text} names no resource; write ${{resources.<name>.<output>}}",
            )
        name = self.resource_name(placeholder, where)
        if len(path) == 2:
            raise _error(
                Reason.INVALID_PLACEHOLDER,
                f"{where}: {text} names resource {name!r} itself, which only a volume source "
                f"can use; write ${{resources.{name}.<output>}}",
            )
        outputs = self.resource_outputs(name, placeholder, where)
        output = ".".join(path[2:])
        if output not in outputs:
            has = f"which has outputs: {_names(outputs)}" if outputs else "which has no outputs"
            raise _error(
                Reason.UNKNOWN_OUTPUT,
                f"{where}: {text} names output {output!r} of resource {name!r}, {has}",
            )
        value = outputs[output]
        if isinstance(value, SecretRef):
            return SecretUse(name, output, value, text)
        return value

    # -- whole strings -------------------------------------------------------------------

    def segments(self, text: str, where: str) -> list[Resolved]:
        """``text`` with every placeholder resolved; adjacent strings are merged."""
        result: list[Resolved] = []
        for segment in parse(text, where):
            value = segment if isinstance(segment, str) else self.resolve(segment, where)
            if isinstance(value, str) and result and isinstance(result[-1], str):
                result[-1] = result[-1] + value
            elif value != "":
                result.append(value)
        return result

    def text(self, text: str, where: str, *, secret_reason: str, secret_hint: str) -> str:
        """``text`` with every placeholder resolved; a secret output is an error."""
        parts: list[str] = []
        for value in self.segments(text, where):
            if isinstance(value, SecretUse):
                raise _error(
                    secret_reason,
                    f"{where}: {value.placeholder} is a secret output of resource "
                    f"{value.resource!r}; {secret_hint}",
                )
            parts.append(value)
        return "".join(parts)


# -- resource params -----------------------------------------------------------------------


def _walk_strings(value: Any, where: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key in sorted(value, key=str):
            yield from _walk_strings(value[key], f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, f"{where}[{index}]")


def _params_where(name: str, path: str) -> str:
    return f"resource {name!r} {path}"


def resource_dependencies(workload: Workload) -> dict[str, list[str]]:
    """For each resource, the resources its params reference (sorted, checked to exist)."""
    resources = workload.spec.resources or {}
    problems: list[Problem] = []
    dependencies: dict[str, list[str]] = {}
    for name in sorted(resources):
        found: set[str] = set()
        for where, text in _walk_strings(resources[name].params or {}, "params"):
            location = _params_where(name, where)
            try:
                for placeholder in placeholders(text, location):
                    if placeholder.path[0] != "resources":
                        continue
                    if len(placeholder.path) < 2:
                        raise _error(
                            Reason.INVALID_PLACEHOLDER,
                            f"{location}: {placeholder.text} names no resource; write "
                            "${resources.<name>.<output>}",
                        )
                    dependency = placeholder.path[1]
                    if dependency not in resources:
                        raise _error(
                            Reason.UNKNOWN_RESOURCE,
                            f"{location}: {placeholder.text} names resource {dependency!r}, "
                            f"which is not declared in spec.resources "
                            f"(declared: {_names(resources)})",
                        )
                    found.add(dependency)
            except RenderError as error:
                problems.extend(error.problems)
        dependencies[name] = sorted(found)
    if problems:
        raise PlaceholderError(problems)
    return dependencies


def _find_cycle(dependencies: Mapping[str, list[str]], remaining: set[str]) -> list[str]:
    """A cycle among ``remaining`` (every one of them is on or leads to a cycle)."""
    start = min(remaining)
    path = [start]
    position = {start: 0}
    while True:
        following = min(dep for dep in dependencies[path[-1]] if dep in remaining)
        if following in position:
            return [*path[position[following] :], following]
        position[following] = len(path)
        path.append(following)


def resource_order(workload: Workload) -> list[str]:
    """Resource names in an order where each comes after the resources its params use.

    Deterministic: among resources that are ready, the alphabetically first goes first.
    Raises PlaceholderError (PlaceholderCycle) naming a cycle, e.g. "a -> b -> a".
    """
    dependencies = resource_dependencies(workload)
    waiting = {name: len(deps) for name, deps in dependencies.items()}
    users: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, deps in dependencies.items():
        for dep in deps:
            users[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(dependencies):
        cycle = _find_cycle(dependencies, set(dependencies) - set(order))
        raise _error(
            Reason.PLACEHOLDER_CYCLE,
            f"resource params reference each other in a cycle: {' -> '.join(cycle)}; "
            "break it by removing one of the ${resources...} placeholders",
        )
    return order


def resolve_params(workload: Workload, name: str, outputs: Outputs) -> dict[str, Any]:
    """The params of resource ``name`` with placeholders substituted.

    Secret outputs may not be used in params (SecretInParams): params end up in
    provisioner objects in plain text.
    """
    resources = workload.spec.resources or {}
    if name not in resources:
        raise KeyError(name)
    resolver = Resolver(workload, outputs)
    problems: list[Problem] = []

    def substitute(value: Any, path: str) -> Any:
        if isinstance(value, str):
            try:
                return resolver.text(
                    value,
                    _params_where(name, path),
                    secret_reason=Reason.SECRET_IN_PARAMS,
                    secret_hint="secret outputs cannot be passed in params, which are not secret",
                )
            except RenderError as error:
                problems.extend(error.problems)
                return value
        if isinstance(value, Mapping):
            return {key: substitute(item, f"{path}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [substitute(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value

    result: dict[str, Any] = substitute(dict(resources[name].params or {}), "params")
    if problems:
        raise PlaceholderError(problems)
    return result
