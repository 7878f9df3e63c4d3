"""``berth docs-api``: the API reference, in Markdown, read from the CRDs' schemas.

The manual's reference pages (one per kind) are generated from ``crds/*.yaml`` when the
manual is built (``hack/docs_hooks.py`` calls ``reference_pages``), so no field, type,
default, enum, validation rule or printer column is ever copied by hand. The CRDs in turn
come from the pydantic models (``berth crds``), so the reference says what the API server
enforces.

Every schema keyword the generator meets must be one it knows how to say
(``KNOWN_KEYWORDS``): a keyword added to the CRDs and not yet handled here fails the
build instead of silently vanishing from the reference.

Offline: reads YAML files, imports nothing that talks to a cluster.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from berth.cli.loader import InputError

Schema = Mapping[str, Any]

# The OpenAPI v3 keywords (and Kubernetes extensions) this generator renders.
KNOWN_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "anyOf",
        "default",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "x-kubernetes-validations",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)

# Map keys and list items in a field's path: spec.containers.<key>.image, spec.provisioners[].type.
MAP_KEY = "<key>"
LIST_ITEM = "[]"

# Bounds, said in words, in the order they are listed.
BOUNDS = (
    ("minimum", "minimum {}"),
    ("maximum", "maximum {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("minProperties", "at least {} entries"),
    ("maxProperties", "at most {} entries"),
)


class UnknownKeywordError(ValueError):
    """A schema uses a keyword this generator cannot render."""


@dataclass(frozen=True)
class Field:
    """One node of a schema, with the path a user writes to reach it."""

    path: str
    schema: Schema
    required: bool

    @property
    def anchor(self) -> str:
        """The id of the field's heading: its path with the placeholders taken out."""
        return self.path.replace("." + MAP_KEY, "").replace(LIST_ITEM, "")


def check_keywords(schema: Schema, where: str) -> None:
    unknown = sorted(set(schema) - KNOWN_KEYWORDS)
    if unknown:
        raise UnknownKeywordError(
            f"{where}: schema keywords the reference cannot render: {unknown}"
        )


def fields(schema: Schema, prefix: str = "") -> Iterator[Field]:
    """Every field under ``schema``, depth first, in the schema's order.

    Map values appear as ``<key>``, list items as ``[]``; a map or list of scalars is one
    field (its values' type is in its own type), a map or list of objects is followed by
    the fields of those objects.
    """
    check_keywords(schema, prefix or "(root)")
    required = set(schema.get("required", ()))
    for name, child in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield Field(path, child, name in required)
        yield from _nested(child, path)


def _nested(schema: Schema, path: str) -> Iterator[Field]:
    check_keywords(schema, path)
    if "properties" in schema:
        yield from fields(schema, path)
    values = schema.get("additionalProperties")
    if isinstance(values, Mapping):
        yield from _nested(values, f"{path}.{MAP_KEY}")
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _nested(items, f"{path}{LIST_ITEM}")


def type_of(schema: Schema) -> str:
    """A field's type in words: ``string``, ``map of string``, ``array of object``..."""
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    if "anyOf" in schema:
        return " or ".join(type_of(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    values = schema.get("additionalProperties")
    if kind == "object" and isinstance(values, Mapping):
        return f"map of {type_of(values)}"
    if kind is None:
        return "any" if schema.get("x-kubernetes-preserve-unknown-fields") else "object"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def escape(text: str) -> str:
    """Text made safe for Markdown, outside its `code` spans, which stay code."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans at all
        parts = [text.replace("`", "'")]
    for index in range(0, len(parts), 2):
        plain = parts[index].replace("\\", "\\\\").replace("&", "&amp;")
        plain = plain.replace("<", "&lt;").replace(">", "&gt;")
        parts[index] = re.sub(r"([*_{}\[\]])", r"\\\1", plain)
    return "`".join(parts)


def code(value: Any) -> str:
    """A value as inline code, with a span long enough for any backticks it holds."""
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
    text = text.strip().removesuffix("...").strip() if not isinstance(value, str) else text
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or fence != "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def facts(field: Field) -> list[str]:
    """What the schema says about a field besides its description, one fact an item."""
    said = [f"**{escape(type_of(field.schema))}**", "required" if field.required else "optional"]
    return said + constraints(field.schema)


def constraints(schema: Schema) -> list[str]:
    """A node's default, allowed values and bounds, in words."""
    said = []
    if "default" in schema:
        said.append(f"default {code(schema['default'])}")
    if "enum" in schema:
        said.append("one of " + ", ".join(code(value) for value in schema["enum"]))
    said += [words.format(schema[keyword]) for keyword, words in BOUNDS if keyword in schema]
    if "pattern" in schema:
        said.append(f"matches {code(schema['pattern'])}")
    if schema.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(code(key) for key in schema.get("x-kubernetes-list-map-keys", ()))
        said.append(f"a list keyed by {keys}: one entry per key")
    elif "x-kubernetes-list-type" in schema:
        said.append(f"list type {code(schema['x-kubernetes-list-type'])}")
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        said.append("free-form: the API server keeps whatever it holds; Berth validates it")
    return said


def elements(schema: Schema) -> list[str]:
    """What a map's values or a list's items are: their bounds, description and rules
    (when they are objects, their fields follow in sections of their own)."""
    lines = []
    for keyword, label in (("additionalProperties", "Each value"), ("items", "Each item")):
        inner = schema.get(keyword)
        if not isinstance(inner, Mapping):
            continue
        said = " · ".join(constraints(inner))
        description = escape(" ".join(inner.get("description", "").split()))
        text = ". ".join(part for part in (said, description) if part)
        if text:
            lines.append(f"- {label}: {text}")
        lines += rules(inner)
        lines += elements(inner)
    return lines


def rules(schema: Schema) -> list[str]:
    """The CEL rules on a node, each with the message the API server answers with."""
    lines = []
    for rule in schema.get("x-kubernetes-validations", ()):
        message = rule.get("message") or rule.get("messageExpression", "")
        lines.append(f"- Rule {code(rule['rule'])}, refused with: {escape(message)}")
    return lines


def field_section(field: Field) -> str:
    # Top-level fields and their children are h3 (the page's table of contents), deeper
    # ones h4, so the contents list what a reader looks for first.
    level = "###" if len(field.anchor.split(".")) <= 2 else "####"
    lines = [f"{level} {code(field.path)} {{ #{field.anchor} }}", "", " · ".join(facts(field)), ""]
    if field.schema.get("description"):
        lines += [escape(" ".join(field.schema["description"].split())), ""]
    lines += rules(field.schema) + elements(field.schema)
    if lines[-1] != "":
        lines.append("")
    return "\n".join(lines)


def printer_columns(version: Mapping[str, Any]) -> list[str]:
    columns = version.get("additionalPrinterColumns", ())
    if not columns:
        return []
    lines = [
        "## What `kubectl get` shows",
        "",
        "Columns with priority above 0 appear only with `kubectl get -o wide`.",
        "",
        "| column | from | type | priority | description |",
        "|---|---|---|---|---|",
    ]
    for column in columns:
        cells = [
            code(column["name"]),
            code(column["jsonPath"]),
            escape(column["type"]),
            str(column.get("priority", 0)),
            escape(column.get("description", "")).replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def header(crd: Mapping[str, Any], version: Mapping[str, Any]) -> list[str]:
    spec = crd["spec"]
    names = spec["names"]
    schema = version["schema"]["openAPIV3Schema"]
    scope = "cluster-scoped" if spec["scope"] == "Cluster" else "namespaced"
    about = [
        f"`{spec['group']}/{version['name']}`",
        scope,
        f"resource {code(names['plural'])}",
    ]
    if names.get("shortNames"):
        about.append("short names " + ", ".join(code(name) for name in names["shortNames"]))
    if names.get("categories"):
        about.append("categories " + ", ".join(code(name) for name in names["categories"]))
    if "status" in version.get("subresources", {}):
        about.append("status subresource")
    lines = [
        f"# {names['kind']}",
        "",
        "<!-- Generated from crds/ by berth docs-api when the manual is built: do not edit. -->",
        "",
        " · ".join(about),
        "",
    ]
    if schema.get("description"):
        lines += [escape(" ".join(schema["description"].split())), ""]
    return lines


def render_crd(crd: Mapping[str, Any]) -> str:
    """The reference page of one CRD: what it is, its columns, its rules, every field."""
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = version["schema"]["openAPIV3Schema"]
    lines = header(crd, version) + printer_columns(version)
    object_rules = rules(schema)
    if object_rules:
        lines += ["## Rules on the whole object", "", *object_rules, ""]
    # spec and status each get a section; apiVersion, kind and metadata share one.
    sections: dict[str, list[str]] = {}
    for field in fields(schema):
        top = field.path.split(".", 1)[0].split("[", 1)[0]
        sections.setdefault(top if top in ("spec", "status") else "", []).append(
            field_section(field)
        )
    for top, parts in sorted(sections.items()):
        title = code(top) if top else "The object's type and metadata"
        lines += [f"## {title}", "", *parts]
    return "\n".join(lines).rstrip("\n") + "\n"


def page_name(crd: Mapping[str, Any]) -> str:
    return f"{crd['spec']['names']['kind'].lower()}.md"


def reference_pages(crds: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """File name (``workload.md``) -> page, one per CRD, ordered by kind."""
    ordered = sorted(crds, key=lambda crd: str(crd["spec"]["names"]["kind"]))
    return {page_name(crd): render_crd(crd) for crd in ordered}


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """The CRDs in ``directory``'s ``*.yaml`` files."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise InputError(f"{directory}: no CRD files (*.yaml)")
    crds = []
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read: {err}") from None
        crds += [
            document
            for document in documents
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
        ]
    return crds


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = sub.add_parser(
        "docs-api",
        help="write the API reference (Markdown) from the CRDs",
        description="Generate the API reference, one Markdown page per kind, from the "
        "CRDs' OpenAPI schemas (field paths, types, defaults, enums, validation rules, "
        "printer columns).",
    )
    docs.add_argument(
        "--crds", type=Path, default=Path("crds"), metavar="DIR", help="CRD files (default: crds)"
    )
    docs.add_argument(
        "--out", type=Path, metavar="DIR", help="write the pages into DIR instead of stdout"
    )


def main(args: argparse.Namespace) -> int:
    pages = reference_pages(load_crds(args.crds))
    if args.out is None:
        sys.stdout.write("\n".join(pages.values()))
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (args.out / name).write_text(text, encoding="utf-8")
            print(f"wrote {args.out / name}")
    except OSError as err:
        raise InputError(f"{args.out}: cannot write: {err.strerror or err}") from None
    return 0
