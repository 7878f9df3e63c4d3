"""Reading ``berth trace``'s table back into cells, for the unit and e2e tests."""

from __future__ import annotations

from berth.cli.trace.view import HEADER


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
