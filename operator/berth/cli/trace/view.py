"""A trace for people (a table whose first column is the tree) and for scripts (JSON with
a stable schema) — pure: the time, the colours and the glyphs are handed in.

The table's columns: NAME (``Kind/name``, the tree drawn before it), READY (True, False,
``-`` where readiness means nothing, ``?`` where it could not be read), STATUS (the
reason), AGE (since the object was created) and MESSAGE. The first failure's line is
marked with ``»`` in the margin and repeated, in full, under the table.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from berth.cli.trace.model import Node, State, Trace
from berth.clock import try_parse_time

SCHEMA_VERSION = 1
HEADER = ("NAME", "READY", "STATUS", "AGE", "MESSAGE")
GAP = "  "
FIRST_FAILURE_LABEL = "First failure:"


@dataclass(frozen=True)
class Glyphs:
    branch: str
    last: str
    pipe: str
    blank: str
    marker: str


UNICODE = Glyphs("├─ ", "└─ ", "│  ", "   ", "» ")
ASCII = Glyphs("|- ", "`- ", "|  ", "   ", "> ")

# ANSI SGR codes, by state; only used when colour is on.
_STATE_COLOUR = {
    State.READY: "32",  # green
    State.PRESENT: "2",  # dim
    State.PROGRESSING: "33",  # yellow
    State.FAILED: "31",  # red
    State.UNKNOWN: "35",  # magenta
}
_MARK_COLOUR = "1;31"  # bold red


def _paint(text: str, code: str | None) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if code and text else text


def age(created: str | None, now: datetime.datetime) -> str:
    """How long ago, as kubectl prints ages (``42s``, ``5m``, ``3h``, ``12d``)."""
    moment = try_parse_time(created)
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for limit, unit, size in ((120, "s", 1), (120 * 60, "m", 60), (48 * 3600, "h", 3600)):
        if seconds < limit:
            return f"{seconds // size}{unit}"
    return f"{seconds // 86400}d"


def _ready(node: Node) -> str:
    if node.health.state == State.UNKNOWN:
        return "?"
    return "-" if node.ready is None else str(node.ready)


def node_title(node: Node, namespace: str | None) -> str:
    """``Kind/name``, with its note, and its namespace when it is not the trace's."""
    notes = [node.note] if node.note else []
    if node.namespace and node.namespace != namespace:
        notes.append(f"namespace {node.namespace}")
    title = f"{node.kind}/{node.name}"
    return f"{title} ({', '.join(notes)})" if notes else title


def _rows(node: Node, prefix: str, tail: str, glyphs: Glyphs) -> list[tuple[str, Node]]:
    rows = [(prefix, node)]
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        branch = glyphs.last if last else glyphs.branch
        rows += _rows(child, tail + branch, tail + (glyphs.blank if last else glyphs.pipe), glyphs)
    return rows


Paint = Callable[[int, int, str], str | None]


def layout(
    rows: Sequence[Sequence[str]],
    margins: Sequence[str] = (),
    paint: Paint = lambda row, column, cell: None,
) -> list[str]:
    """Cells padded into columns (the last one unpadded), each line after its margin.
    ``paint(row, column, cell)`` gives a cell's colour code (None: none); the padding
    is measured without it."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for index, row in enumerate(rows):
        cells = []
        for column, cell in enumerate(row):
            pad = " " * (widths[column] - len(cell)) if column < len(widths) else ""
            cells.append(_paint(cell, paint(index, column, cell)) + pad)
        margin = margins[index] if index < len(margins) else ""
        lines.append((margin + GAP.join(cells)).rstrip())
    return lines


def render_text(
    trace: Trace,
    *,
    namespace: str | None,
    now: datetime.datetime,
    colour: bool = False,
    glyphs: Glyphs = UNICODE,
) -> str:
    """The table, then the first failure (or that there is none)."""
    tree = _rows(trace.root, "", "", glyphs)
    cells = [list(HEADER)] + [
        [
            prefix + node_title(node, namespace),
            _ready(node),
            node.health.reason,
            age(node.created, now),
            node.health.message,
        ]
        for prefix, node in tree
    ]
    blank = " " * len(glyphs.marker)
    margins = [blank] + [
        _paint(glyphs.marker, _MARK_COLOUR if colour else None) if node.first_failure else blank
        for _, node in tree
    ]

    def paint(row: int, column: int, cell: str) -> str | None:
        if not colour or row == 0 or column not in (1, 2):
            return None
        return _STATE_COLOUR[tree[row - 1][1].health.state]

    lines = layout(cells, margins, paint)
    lines.append("")
    lines.append(_footer(trace, colour))
    return "\n".join(lines) + "\n"


def _footer(trace: Trace, colour: bool) -> str:
    first = trace.first_failure
    if first is None:
        return f"{FIRST_FAILURE_LABEL} none"
    label = _paint(FIRST_FAILURE_LABEL, _MARK_COLOUR if colour else None)
    where = f"{first.namespace}/{first.name}" if first.namespace else first.name
    text = f"{label} {first.kind} {where}: {first.health.reason}"
    return f"{text}: {first.health.message}" if first.health.message else text


def node_json(node: Node) -> dict[str, Any]:
    return {
        "kind": node.kind,
        "apiVersion": node.api_version,
        "name": node.name,
        "namespace": node.namespace,
        "note": node.note,
        "state": str(node.health.state),
        "ready": node.ready,
        "reason": node.health.reason,
        "message": node.health.message,
        "created": node.created,
        "firstFailure": node.first_failure,
        "children": [node_json(child) for child in node.children],
    }


def trace_json(trace: Trace) -> dict[str, Any]:
    """The schema scripts rely on (``schemaVersion`` changes when a field does)."""
    first = trace.first_failure
    return {
        "schemaVersion": SCHEMA_VERSION,
        "root": node_json(trace.root),
        "firstFailure": None
        if first is None
        else {key: value for key, value in node_json(first).items() if key not in ("children",)},
    }
