"""Reading YAML with line numbers, for the offline commands.

:func:`load_document` reads the one YAML document of a file (or stdin) and keeps its node
tree; :func:`locate` turns a path into the document (a pydantic error location) into the
line that names it. Bad input is an :class:`InputError` whose lines read
``file:line: what is wrong``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class InputError(Exception):
    """Bad input. ``lines`` are printed on stderr, one problem a line; the exit code is 1."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, and its node tree for line numbers."""

    path: str
    """The file as the user named it (``<stdin>`` for ``-``)."""
    data: Any
    node: yaml.Node

    def at(self, line: int) -> str:
        return f"{self.path}:{line}"


Loc = tuple[str | int, ...]
"""A path into a document: keys and list indexes, as pydantic locates its errors."""


def _read_text(path: str) -> tuple[str, str]:
    """(name to show, text) of a file; ``-`` is stdin."""
    if path == "-":
        return "<stdin>", sys.stdin.read()
    try:
        return path, Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None


def _yaml_error(shown: str, err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f"{shown}:{mark.line + 1}" if mark is not None else shown
    problem = err.problem or err.context or "not valid YAML"
    context = ""
    if err.problem and err.context:
        started = err.context_mark
        at = f" at line {started.line + 1}" if started is not None and started != mark else ""
        context = f" ({err.context}{at})"
    return f"{where}: invalid YAML: {problem}{context}"


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def _duplicate_keys(shown: str, root: yaml.Node) -> list[str]:
    """YAML loaders keep the last of duplicate keys silently; we say so instead."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        found.append(
                            (
                                line_of(key),
                                f"duplicate key {key.value!r} (first at line {first[key.value]})",
                            )
                        )
                    else:
                        first[key.value] = line_of(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return [f"{shown}:{line}: {message}" for line, message in sorted(found)]


def load_document(path: str, what: str) -> Document:
    """The single YAML document in ``path``; InputError naming file and line otherwise."""
    shown, text = _read_text(path)
    loader = yaml.SafeLoader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or is_null(node):
                continue
            duplicates = _duplicate_keys(shown, node)
            if duplicates:
                raise InputError(*duplicates)
            documents.append(Document(shown, loader.construct_document(node), node))
    except yaml.MarkedYAMLError as err:
        raise InputError(_yaml_error(shown, err)) from None
    except yaml.YAMLError as err:
        raise InputError(f"{shown}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    if not documents:
        raise InputError(f"{shown}: the file is empty; expected {what}")
    if len(documents) > 1:
        raise InputError(
            f"{shown}:{line_of(documents[1].node)}: a second YAML document; expected only {what}"
        )
    return documents[0]


def child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    """The node under ``part`` and the line that names it (a key's line, an item's line)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return line_of(key), value
    elif isinstance(node, yaml.SequenceNode):
        if isinstance(part, int):
            if 0 <= part < len(node.value):
                item = node.value[part]
                return line_of(item), item
        else:
            # Score's list form of files and volumes: the models key them by target.
            for item in node.value:
                target = child(item, "target")
                if target is not None and getattr(target[1], "value", None) == part:
                    return line_of(item), item
    return None


def locate(root: yaml.Node, loc: Loc, *, missing: bool = False) -> tuple[int, list[str]]:
    """The line of a pydantic error location, and the part of the path found in the YAML.

    Parts that are not in the file are pydantic's own (``[key]``, union branches such as
    ``int``); a missing field is named although it is not there.
    """
    node, line, shown = root, line_of(root), []
    for index, part in enumerate(loc):
        if part == "[key]":
            break
        found = child(node, part)
        if found is None:
            if missing and index == len(loc) - 1:
                shown.append(str(part))
            break
        line, node = found
        shown.append(str(part))
    return line, shown


def describe(value: Any) -> str:
    """What a value is, for a message: ``a mapping``, ``a list``, ``int 5``."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"
