"""Message templates filled in Python and, word for word, in CEL (pure).

A policy rule's message is written once, as a ``str.format`` template: ``{name}`` inserts
a slot's text, ``{name!q}`` inserts it in single quotes. ``fill`` fills a template with
Python strings (the operator's Stalled and PolicyCompliant messages, ``berth render``);
``cel_fill`` turns the same template into a CEL string expression whose slots are CEL
string expressions (the admission policy's messageExpression). One template, two
fillers: the words cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from string import Formatter

_FORMATTER = Formatter()


def _parts(template: str) -> list[tuple[str, str | None, str | None]]:
    """(literal, slot, conversion) triples; a slot is None after the last literal."""
    parts = []
    for literal, slot, spec, conversion in _FORMATTER.parse(template):
        if spec:
            raise ValueError(f"template {template!r}: format specs are not supported")
        if conversion not in (None, "q"):
            raise ValueError(f"template {template!r}: only !q is supported, not !{conversion}")
        parts.append((literal, slot, conversion))
    return parts


def quoted(text: str) -> str:
    """A value as messages quote it: in single quotes, as it is (no escaping, so that
    CEL can say the same)."""
    return f"'{text}'"


def fill(template: str, **slots: str) -> str:
    """The template with each slot's text (quoted where it says ``!q``)."""
    out = []
    for literal, slot, conversion in _parts(template):
        out.append(literal)
        if slot is not None:
            value = slots[slot]
            out.append(quoted(value) if conversion == "q" else value)
    return "".join(out)


def cel_string(text: str) -> str:
    """A CEL string literal of ``text`` (JSON's escapes are CEL's too)."""
    return json.dumps(text, ensure_ascii=False)


def cel_fill(template: str, slots: Mapping[str, str]) -> str:
    """A CEL expression that evaluates to ``fill(template, ...)`` where each slot is the
    value of the CEL string expression ``slots[name]``."""
    terms: list[str] = []
    for literal, slot, conversion in _parts(template):
        text = literal
        if slot is not None and conversion == "q":
            text += "'"
        if text:
            terms.append(cel_string(text))
        if slot is not None:
            terms.append(f"({slots[slot]})")
            if conversion == "q":
                terms.append(cel_string("'"))
    merged: list[str] = []
    for term in terms:  # adjacent literals become one
        if merged and term.startswith('"') and merged[-1].startswith('"'):
            merged[-1] = cel_string(json.loads(merged[-1]) + json.loads(term))
        else:
            merged.append(term)
    return " + ".join(merged) if merged else '""'
