"""Reading ``berth trace``'s table back into cells, for the unit and e2e tests."""

from __future__ import annotations

import re
from typing import Any

from berth.cli.trace.view import HEADER, layout


def table_rows(text: str) -> list[list[str]]:
    """Each line of the table (the header first) as [margin, NAME, READY, STATUS, AGE,
    MESSAGE], cut where the header's columns start (the table aligns every line on them);
    the lines after the table (the first failure) are left out."""
    lines = text.splitlines()
    header = lines[0]
    starts = [0, header.index(HEADER[0])] + [header.index(f"  {h}") + 2 for h in HEADER[1:]]
    rows = []
    for line in lines[: lines.index("")]:
        bounds = [*starts, max(len(line), starts[-1])]
        cells = [line[bounds[i] : bounds[i + 1]] for i in range(len(starts))]
        cells[-1] = line[starts[-1] :]
        rows.append([cells[0], *(cell.rstrip() for cell in cells[1:])])
    return rows


# A Pod's name: its ReplicaSet's (the Deployment's and the Pod template's hash) and five
# random characters; a ReplicaSet's: the Deployment's and the hash.
_POD = re.compile(r"\b([a-z0-9][a-z0-9-]*?)-[b-df-hj-np-tv-z2456789]{6,10}-[a-z0-9]{5}\b")
_REPLICA_SET = re.compile(r"(ReplicaSet/[a-z0-9][a-z0-9-]*?)-[b-df-hj-np-tv-z2456789]{6,10}\b")


def normalise_name(text: str) -> str:
    """Pod and ReplicaSet names with their hash and random suffix as placeholders."""
    return _REPLICA_SET.sub(r"\1-<hash>", _POD.sub(r"\1-<hash>-<id>", text))


def normalise_table(text: str) -> str:
    """The table with what changes from run to run (ages, hashes, Pods' random names)
    replaced, and laid out again as ``berth trace`` lays it out."""
    rows = table_rows(text)
    margins = [row[0] for row in rows]
    cells = [[normalise_name(cell) for cell in row[1:]] for row in rows]
    for row in cells[1:]:
        row[3] = row[3] if row[3] == "-" else "<age>"
    footer = text.splitlines()[len(rows) :]
    return "\n".join(layout(cells, margins) + [normalise_name(line) for line in footer]) + "\n"


def normalise_json(doc: Any) -> Any:
    """The JSON with creation times and Pods' and ReplicaSets' names as placeholders."""
    if isinstance(doc, dict):
        return {
            key: ("<time>" if key == "created" and value else normalise_json(value))
            for key, value in doc.items()
        }
    if isinstance(doc, list):
        return [normalise_json(item) for item in doc]
    if isinstance(doc, str):
        return normalise_name(f"ReplicaSet/{doc}").removeprefix("ReplicaSet/")
    return doc
