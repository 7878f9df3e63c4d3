"""Reading the manual (docs/) as the site shows it, for tests that keep it true.

Pages include repository files with pymdownx.snippets (``--8<-- "path"`` or
``--8<-- "path:section"``, the section between ``--8<-- [start:section]`` and
``--8<-- [end:section]`` markers): ``page`` expands those includes the same way, so a test
can check that a page shows a file verbatim, and fails when an include names a file or a
section that does not exist (as ``make docs`` does).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import markdown
from markdown.extensions.toc import slugify

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"

INCLUDE = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')
SECTION_MARK = re.compile(r"--8<-- \[(start|end):([\w-]+)\]")


def included(path: str, section: str | None) -> str:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    if section is None:
        return text
    start = re.search(rf"^.*--8<-- \[start:{section}\].*\n", text, flags=re.MULTILINE)
    end = re.search(rf"^.*--8<-- \[end:{section}\].*$", text, flags=re.MULTILINE)
    assert start, f"{path} has no start of section {section!r}"
    assert end, f"{path} has no end of section {section!r}"
    return text[start.end() : end.start()]


def expand(text: str) -> str:
    """``text`` with every snippet include replaced by what it includes, indented as the
    include line is, and section markers dropped."""
    lines: list[str] = []
    for line in text.splitlines():
        found = INCLUDE.match(line)
        if found is None:
            lines.append(line)
            continue
        body = included(found["path"], found["section"])
        lines += [
            f"{found['indent']}{part}" if part else part
            for part in body.splitlines()
            if not SECTION_MARK.search(part)
        ]
    return "\n".join(lines) + "\n"


def page(relative: str) -> str:
    """The Markdown of docs/<relative>, includes expanded."""
    return expand((DOCS / relative).read_text(encoding="utf-8"))


def anchors(text: str) -> set[str]:
    """The ids of a Markdown page's headings, as the site renders them: an explicit
    ``{ #id }``, or the slug of the heading's text."""
    ids = set()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6} (.+)$", prose, flags=re.MULTILINE):
        explicit = re.search(r"\{ *#([^ }]+) *\}\s*$", heading)
        if explicit:
            ids.add(explicit[1])
        else:
            rendered = markdown.markdown(heading)
            ids.add(slugify(html.unescape(re.sub(r"<[^>]+>", "", rendered)), "-"))
    return ids
