"""Checks the offline commands share: a document's kind, a model's validation errors as
``file:line: path: message``, and gathering every problem before reporting them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from berth.api.score_fields import score_fields_at
from berth.cli.loader import Document, InputError, Loc, child, describe, line_of, locate

M = TypeVar("M", bound=BaseModel)


def validation_problems(
    document: Document, error: ValidationError, translate: Callable[[Loc], Loc] = lambda loc: loc
) -> list[str]:
    """``file:line: path: message`` for each error, by line, without repeats.

    The branches of a union (a quantity is an integer or a string) fail together at one
    place; they make one line: ``path: <first> or <second>``.
    """
    found: dict[tuple[int, str], list[str]] = {}
    for item in error.errors():
        loc = translate(tuple(item["loc"]))
        line, shown = locate(document.node, loc, missing=item["type"] == "missing")
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = _unknown_field(loc)
        if "[key]" in loc:
            message = f"invalid key: {message}"
        messages = found.setdefault((line, ".".join(shown)), [])
        if message not in messages:
            messages.append(message)
    problems = []
    for (line, path), messages in sorted(found.items(), key=lambda item: item[0][0]):
        prefix = f"{path}: " if path else ""
        problems.append(f"{document.at(line)}: {prefix}{' or '.join(messages)}")
    return problems


def _unknown_field(loc: Loc) -> str:
    """An unknown field, in the Score specification's terms."""
    score_loc = loc[1:] if loc[:1] == ("spec",) else loc
    fields = score_fields_at(score_loc) if loc[:1] != ("metadata",) else None
    if fields is None:
        return "not a field here"
    return (
        f"{score_loc[-1]!s} is not a field of the Score specification (score.dev/v1b1) here; "
        f"the fields here are: {', '.join(fields)}"
    )


def check_kind(document: Document, kind: str, api_version: str) -> list[str]:
    """The document must be a mapping of this kind and apiVersion."""
    data = document.data
    if not isinstance(data, dict):
        return [f"{document.at(line_of(document.node))}: expected a {kind}, found {describe(data)}"]
    problems = []
    for field, wanted in (("apiVersion", api_version), ("kind", kind)):
        found = child(document.node, field)
        line = found[0] if found else line_of(document.node)
        value = data.get(field)
        if value != wanted:
            what = f"is {value!r}" if field in data else "is missing"
            problems.append(f"{document.at(line)}: {field} {what}; expected {wanted!r}")
    return problems


def validate(model: type[M], document: Document, data: Any = None) -> M:
    """The document (or ``data`` read from it) as ``model``; InputError with its lines."""
    try:
        return model.model_validate(document.data if data is None else data)
    except ValidationError as err:
        raise InputError(*validation_problems(document, err)) from None


def collect(*steps: Callable[[], Any]) -> list[Any]:
    """Run every step, gather every InputError's lines, raise them together."""
    results: list[Any] = []
    problems: list[str] = []
    for step in steps:
        try:
            results.append(step())
        except InputError as err:
            problems.extend(err.lines)
            results.append(None)
    if problems:
        raise InputError(*problems)
    return results


def raise_all(problems: list[str]) -> None:
    if problems:
        raise InputError(*problems)
