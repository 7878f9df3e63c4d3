"""The API reference is generated from crds/ and shows every field of every schema.

The pages are rendered to HTML the way the manual renders them (Python-Markdown with
attr_list and tables), then read back: each field's heading and anchor, its description,
its default, enum values, bounds, pattern and CEL messages, and each printer column must
be there. The walk over the schema here is the test's own, not the generator's.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import markdown
import pytest
import yaml

from berth.cli import main
from berth.cli.docs_api import (
    UnknownKeywordError,
    escape,
    load_crds,
    reference_pages,
    render_crd,
)
from berth.cli.loader import InputError

ROOT = Path(__file__).resolve().parents[2]
CRDS = load_crds(ROOT / "crds")
# How the reference says each bound.
BOUNDS = {
    "minimum": "minimum {}",
    "maximum": "maximum {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "minProperties": "at least {} entries",
    "maxProperties": "at most {} entries",
}


def rendered(page: str) -> tuple[set[str], str]:
    """The ids and the plain text of a Markdown page, as the manual renders it."""
    body = markdown.markdown(page, extensions=["attr_list", "tables"])
    ids = set(re.findall(r'\bid="([^"]+)"', body))
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return ids, " ".join(text.split())


def nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, schema) for every node under ``schema``: properties by name, map values as
    ``<key>``, list items as ``[]``."""
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from nodes_within(child, child_path)


def nodes_within(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield from nodes(schema, path)
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield f"{path}.<key>", schema["additionalProperties"]
        yield from nodes_within(schema["additionalProperties"], f"{path}.<key>")
    if isinstance(schema.get("items"), Mapping):
        yield f"{path}[]", schema["items"]
        yield from nodes_within(schema["items"], f"{path}[]")


def said(value: Any) -> str:
    """A value as the rendered page's text shows it: whitespace folded, and backticks
    (code spans in descriptions) gone."""
    return " ".join(str(value).replace("`", "").split())


def crd_id(crd: Mapping[str, Any]) -> str:
    return str(crd["spec"]["names"]["kind"])


@pytest.mark.parametrize("crd", CRDS, ids=crd_id)
def test_every_field_has_its_own_section(crd: Mapping[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    ids, text = rendered(render_crd(crd))
    fields = [path for path, _ in nodes(schema) if not path.endswith(("<key>", "[]"))]
    assert len(fields) > 5
    for path in fields:
        anchor = path.replace(".<key>", "").replace("[]", "")
        assert anchor in ids, f"{crd_id(crd)}: no section for {path}"
        assert path in text, f"{crd_id(crd)}: {path} is not named"


@pytest.mark.parametrize("crd", CRDS, ids=crd_id)
def test_every_fact_of_the_schema_is_shown(crd: Mapping[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    _, text = rendered(render_crd(crd))
    for path, node in [("(root)", schema), *nodes(schema)]:
        expected = [said(node["description"])] if "description" in node else []
        expected += [said(value) for value in node.get("enum", ())]
        expected += [said(node["pattern"])] if "pattern" in node else []
        expected += [words.format(node[key]) for key, words in BOUNDS.items() if key in node]
        if "default" in node:
            default = node["default"]
            if isinstance(default, dict | list):  # shown as YAML, on one line
                said_default = yaml.safe_dump(default, default_flow_style=True, width=2**31)
                expected.append(said_default.strip())
            else:
                expected.append(str(default).lower() if isinstance(default, bool) else str(default))
        for rule in node.get("x-kubernetes-validations", ()):
            expected += [said(rule["rule"]), said(rule.get("message", ""))]
        for item in expected:
            assert item in text, f"{crd_id(crd)}: {path}: {item!r} is not shown"


@pytest.mark.parametrize("crd", CRDS, ids=crd_id)
def test_every_printer_column_is_shown(crd: Mapping[str, Any]) -> None:
    (version,) = crd["spec"]["versions"]
    _, text = rendered(render_crd(crd))
    names = crd["spec"]["names"]
    for column in version["additionalPrinterColumns"]:
        row = f"{column['name']} {column['jsonPath']} {column['type']} {column.get('priority', 0)}"
        assert row in text, f"{crd_id(crd)}: printer column {column['name']} is not shown"
        assert said(column.get("description", "")) in text
    for short in names.get("shortNames", ()):
        assert f"short names {short}" in text


def test_one_page_per_kind_and_each_in_the_manuals_nav() -> None:
    pages = reference_pages(CRDS)
    assert sorted(pages) == [
        "clusterprovisioner.md",
        "environment.md",
        "preview.md",
        "promotion.md",
        "promotionapproval.md",
        "workload.md",
        "workloadrevision.md",
    ]
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in pages:
        assert f": reference/{name}\n" in nav, f"reference/{name} is not in mkdocs.yml's nav"


def test_an_unknown_schema_keyword_fails_instead_of_vanishing() -> None:
    crd = yaml.safe_load(yaml.safe_dump(CRDS[0]))
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["type"]["x-kubernetes-new-thing"] = True
    with pytest.raises(UnknownKeywordError, match=r"spec\.type: .*x-kubernetes-new-thing"):
        render_crd(crd)


def test_text_is_escaped_outside_code_and_kept_inside() -> None:
    assert escape("a <b> & *c* _d_ [e] {f} `g*<h>`") == (
        r"a &lt;b&gt; &amp; \*c\* \_d\_ \[e\] \{f\} `g*<h>`"
    )
    assert escape("an unpaired ` backtick") == "an unpaired ' backtick"
    _, text = rendered(escape("a <b> *c* {memory: 256Mi}"))
    assert text == "a <b> *c* {memory: 256Mi}"


def test_the_command_writes_the_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs-api", "--crds", str(ROOT / "crds"), "--out", str(tmp_path)]) == 0
    written = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.iterdir()}
    assert written == reference_pages(CRDS)
    assert main(["docs-api", "--crds", str(ROOT / "crds")]) == 0
    assert "# Workload\n" in capsys.readouterr().out


def test_no_crds_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError):
        load_crds(tmp_path)
    (tmp_path / "bad.yaml").write_text("a: [", encoding="utf-8")
    assert main(["docs-api", "--crds", str(tmp_path)]) == 1
    assert "bad.yaml: cannot read" in capsys.readouterr().err
