"""MkDocs hooks of Berth's manual (mkdocs.yml names this file; `make docs` builds it).

- The API reference is generated: on every build the pages `reference/<kind>.md` are
  made from crds/*.yaml by `berth.cli.docs_api` (the code behind `berth docs-api`) and
  handed to MkDocs as generated files, so nothing of the schema is copied by hand and no
  generated file sits in docs/. `make docs-serve` rebuilds them when crds/ changes.
- External links are checked for their form only. The build machines and CI reach no web
  site (only package registries), so the link checker (htmlproofer, in mkdocs.yml) does
  not fetch them (`validate_external_urls: false`); this hook refuses a link that is not a
  well-formed http(s) or mailto address instead. Internal links and anchors are checked in
  full by MkDocs' own validation and by htmlproofer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority, get_plugin_logger
from mkdocs.structure.files import File, Files

from berth.cli.docs_api import load_crds, reference_pages

log = get_plugin_logger("berth-docs")

REPO_ROOT = Path(__file__).resolve().parents[1]
CRDS = REPO_ROOT / "crds"
REFERENCE_DIR = "reference"

HREF = re.compile(r'<(?:a|img)\b[^>]*?\b(?:href|src)="([^"]*)"')
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$")


def external_link_problem(url: str) -> str | None:
    """Why ``url`` is not a well-formed external address, or None when it is (or when it
    is internal, which MkDocs and htmlproofer check)."""
    parts = urlsplit(url)
    if not parts.scheme:
        return None
    if parts.scheme == "mailto":
        return None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,63}", parts.path) else "bad address"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not http(s) or mailto"
    if re.search(r"\s", url):
        return "contains whitespace"
    if not HOST.match(parts.hostname or ""):
        return f"host {parts.hostname!r} is not a domain name"
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return "bad port"
    return None


# Before every plugin's on_files: the link checker keeps its own list of the site's files
# from that event, and must find the generated pages in it.
@event_priority(100)
def on_files(files: Files, config: Any) -> Files:
    for name, text in reference_pages(load_crds(CRDS)).items():
        uri = f"{REFERENCE_DIR}/{name}"
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"docs/{uri} is generated from crds/: remove the file in docs/")
        files.append(File.generated(config, uri, content=text))
    return files


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    for url in HREF.findall(html):
        problem = external_link_problem(url)
        if problem:
            log.warning("%s: external link %s: %s", page.file.src_uri, url, problem)
    return html


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    server.watch(str(CRDS))
    return server
