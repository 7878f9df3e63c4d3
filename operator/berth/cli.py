"""The `berth` command.

``berth run`` runs the operator. The other commands work offline, on files:

- ``berth render -f workload.yaml -e environment.yaml`` prints the manifests the operator
  would apply, through the same code path (the pydantic models, then
  ``berth.render.render_workload``);
- ``berth import score.yaml`` turns a Score file into a self-contained Workload;
- ``berth crds`` prints (or writes) the CustomResourceDefinitions.

Bad input is reported as ``file:line: path.to.field: what is wrong`` on stderr, with exit
code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from berth import __version__
from berth.api import API_VERSION, Environment, Workload
from berth.api.common import DNS_1035_LABEL_PATTERN, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN
from berth.api.workload import BUILD_HERE_IMAGE, score_fields_at
from berth.reasons import Reason
from berth.render import OutputValue, RenderError, SecretRef, render_workload


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BERTH_{name}", default)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: watch Workloads and Environments and reconcile them. "
        "Every flag can also be set by the environment variable shown.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig to use (KUBECONFIG); in a Pod, the ServiceAccount is used",
    )
    run.add_argument(
        "--context",
        default=_env("CONTEXT", "") or None,
        help="kubeconfig context (BERTH_CONTEXT); default: the current one",
    )
    run.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="watch only this namespace (repeatable; BERTH_NAMESPACES, comma-separated); "
        "default: the whole cluster",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=int(_env("WORKERS", "32")),
        help="reconciles that may run at once (BERTH_WORKERS); the API load is bounded "
        "by the API server's answers, not by this",
    )
    run.add_argument(
        "--max-inflight",
        type=int,
        default=int(_env("MAX_INFLIGHT", "0")),
        help="ceiling on API requests in flight, 0 for none (BERTH_MAX_INFLIGHT); below "
        "it, the number follows the API server: fewer on 429s, 5xx and slow answers",
    )
    run.add_argument(
        "--qps",
        type=float,
        default=float(_env("QPS", "0")),
        help="ceiling on API requests per second, 0 for none (BERTH_QPS)",
    )
    run.add_argument(
        "--burst",
        type=int,
        default=int(_env("BURST", "40")),
        help="API requests allowed in a burst under a --qps ceiling (BERTH_BURST)",
    )
    run.add_argument(
        "--resync",
        type=float,
        default=float(_env("RESYNC_SECONDS", "300")),
        help="seconds between full re-reconciles of every object (BERTH_RESYNC_SECONDS)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=int(_env("METRICS_PORT", "8080")),
        help="port of the Prometheus /metrics endpoint, 0 to disable (BERTH_METRICS_PORT)",
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=int(_env("HEALTH_PORT", "8081")),
        help="port of the /healthz liveness endpoint, 0 to disable (BERTH_HEALTH_PORT)",
    )
    run.add_argument(
        "--peering",
        default=_env("PEERING", "") or None,
        help="coordinate replicas through this kopf peering object (BERTH_PEERING); "
        "default: standalone",
    )
    run.add_argument(
        "--priority",
        type=int,
        default=int(_env("PRIORITY", "0")),
        help="this replica's peering priority; the highest one works (BERTH_PRIORITY)",
    )
    run.add_argument(
        "--peering-lifetime",
        type=int,
        default=int(_env("PEERING_LIFETIME", "60")),
        help="seconds a replica's peering keep-alive stays valid; a standby takes over at "
        "most this long after the working replica died (BERTH_PEERING_LIFETIME)",
    )
    run.add_argument(
        "--shards",
        type=int,
        default=int(_env("SHARDS", "0")),
        help="split the Workloads into this many shards by namespace, each reconciled by "
        "the one replica holding its Lease; run several replicas with the same value. "
        "0 or 1: off (BERTH_SHARDS)",
    )
    run.add_argument(
        "--shard-namespace",
        default=_env("SHARD_NAMESPACE", "") or os.environ.get("POD_NAMESPACE") or "default",
        help="namespace of the shards' Leases (BERTH_SHARD_NAMESPACE); default: the "
        "operator Pod's (POD_NAMESPACE), else 'default'",
    )
    run.add_argument(
        "--shard-lease-duration",
        type=float,
        default=float(_env("SHARD_LEASE_DURATION", "15")),
        help="seconds a shard's Lease lasts unrenewed: a dead replica's shards are taken "
        "over after this; a replica stops writing for a shard 2/3 of it after its last "
        "renewal (BERTH_SHARD_LEASE_DURATION)",
    )
    run.add_argument(
        "--log-writes",
        action="store_true",
        default=_env("LOG_WRITES", "") in ("1", "true"),
        help="with --shards: log every write of a reconcile (object, resourceVersion, "
        "shard, replica) on the berth.writes logger (BERTH_LOG_WRITES)",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=_env("LOG_FORMAT", "text"),
        help="log as human-readable text or as JSON lines (BERTH_LOG_FORMAT)",
    )
    run.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "INFO"),
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level (BERTH_LOG_LEVEL)",
    )


def _identity() -> str:
    """This replica's name in a peering: the Pod's (POD_ID), else host, pid and a nonce."""
    import secrets
    import socket

    return os.environ.get("POD_ID") or (
        f"berth@{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
    )


def _run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from berth.handlers import watch  # noqa: F401  (registers the handlers)
    from berth.handlers.config import OperatorConfig
    from berth.kube import credentials

    namespaces = tuple(args.namespace or [n for n in _env("NAMESPACES", "").split(",") if n])
    config = OperatorConfig(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespaces=namespaces,
        workers=args.workers,
        max_inflight=args.max_inflight,
        qps=args.qps,
        burst=args.burst,
        resync_seconds=args.resync,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        standalone=args.peering is None,
        peering=args.peering or "berth",
        priority=args.priority,
        peering_lifetime=args.peering_lifetime,
        identity=_identity(),
        shards=args.shards,
        shard_namespace=args.shard_namespace,
        shard_lease_seconds=args.shard_lease_duration,
        log_writes=args.log_writes,
        log_format=args.log_format,
        log_level=args.log_level,
    )
    if config.shards < 0 or config.shard_lease_seconds < 3:
        print(
            "berth: --shards must be 0 or more, --shard-lease-duration 3 s or more", file=sys.stderr
        )
        return 2
    if config.sharded and not config.standalone:
        print(
            "berth: --shards and --peering exclude each other: with shards, every replica "
            "works (on its own shards); with peering, one works and the others wait",
            file=sys.stderr,
        )
        return 2
    try:
        credentials.load(config.kubeconfig, config.context)
    except credentials.CredentialsError as err:
        print(f"berth: {err}", file=sys.stderr)
        return 2
    kopf.configure(
        debug=args.log_level == "DEBUG",
        verbose=args.log_level in ("DEBUG", "INFO"),
        quiet=args.log_level in ("WARNING", "ERROR"),
        # Text lines carry a timestamp, the logger and the level; JSON carries them as fields.
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(args.log_level)
    if args.log_level != "DEBUG":
        # kopf says "Handler ... succeeded" for every watch event of every object: at
        # thousands of objects that is most of the log and none of the news.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if config.metrics_port:
        start_http_server(config.metrics_port)
    liveness = f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=config.standalone,
            # Naming a peering makes kopf require it; standalone names none.
            peering_name=None if config.standalone else config.peering,
            priority=config.priority,
            identity=config.identity,  # type: ignore[arg-type]  # kopf: NewType of str
            liveness_endpoint=liveness,
            memo=kopf.Memo(config=config),
        )
    )
    return 0


# -- offline commands: reading YAML with line numbers ----------------------------------------


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


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _line(node: yaml.Node) -> int:
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
                                _line(key),
                                f"duplicate key {key.value!r} (first at line {first[key.value]})",
                            )
                        )
                    else:
                        first[key.value] = _line(key)
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
            if node is None or _is_null(node):
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
            f"{shown}:{_line(documents[1].node)}: a second YAML document; expected only {what}"
        )
    return documents[0]


Loc = tuple[str | int, ...]


def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
    """The node under ``part`` and the line that names it (a key's line, an item's line)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return _line(key), value
    elif isinstance(node, yaml.SequenceNode):
        if isinstance(part, int):
            if 0 <= part < len(node.value):
                item = node.value[part]
                return _line(item), item
        else:
            # Score's list form of files and volumes: the models key them by target.
            for item in node.value:
                target = _child(item, "target")
                if target is not None and getattr(target[1], "value", None) == part:
                    return _line(item), item
    return None


def locate(root: yaml.Node, loc: Loc, *, missing: bool = False) -> tuple[int, list[str]]:
    """The line of a pydantic error location, and the part of the path found in the YAML.

    Parts that are not in the file are pydantic's own (``[key]``, union branches such as
    ``int``); a missing field is named although it is not there.
    """
    node, line, shown = root, _line(root), []
    for index, part in enumerate(loc):
        if part == "[key]":
            break
        found = _child(node, part)
        if found is None:
            if missing and index == len(loc) - 1:
                shown.append(str(part))
            break
        line, node = found
        shown.append(str(part))
    return line, shown


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


M = TypeVar("M", bound=BaseModel)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _check_kind(document: Document, kind: str, api_version: str) -> list[str]:
    """The document must be a mapping of this kind and apiVersion."""
    data = document.data
    if not isinstance(data, dict):
        return [f"{document.at(_line(document.node))}: expected a {kind}, found {_describe(data)}"]
    problems = []
    for field, wanted in (("apiVersion", api_version), ("kind", kind)):
        found = _child(document.node, field)
        line = found[0] if found else _line(document.node)
        value = data.get(field)
        if value != wanted:
            what = f"is {value!r}" if field in data else "is missing"
            problems.append(f"{document.at(line)}: {field} {what}; expected {wanted!r}")
    return problems


def _validate(model: type[M], document: Document, data: Any = None) -> M:
    try:
        return model.model_validate(document.data if data is None else data)
    except ValidationError as err:
        raise InputError(*validation_problems(document, err)) from None


def _collect(*steps: Callable[[], Any]) -> list[Any]:
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


# -- writing YAML and JSON ------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (readable file contents in previews)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def to_yaml_stream(objects: Sequence[Any]) -> str:
    return yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
    )


# -- berth render ---------------------------------------------------------------------------

OUTPUTS_HINT = (
    "pass the resources' outputs with --outputs FILE: a mapping resource -> output -> value, "
    "where a secret output is {secretRef: {name: <Secret>, key: <key>}}"
)


def _output_value(document: Document, where: str, node: yaml.Node) -> OutputValue:
    wrong = (
        f"{document.at(_line(node))}: {where}: a value must be text or "
        "{secretRef: {name: <Secret>, key: <key>}}"
    )
    if isinstance(node, yaml.ScalarNode) and not _is_null(node):
        return str(node.value)  # as written: 5432, true, 1.10
    if not isinstance(node, yaml.MappingNode):
        raise InputError(wrong)
    found = _child(node, "secretRef")
    if found is None or len(node.value) != 1 or not isinstance(found[1], yaml.MappingNode):
        raise InputError(wrong)
    ref: dict[str, str] = {}
    for key, value in found[1].value:
        if not isinstance(value, yaml.ScalarNode) or _is_null(value) or not value.value:
            raise InputError(
                f"{document.at(_line(key))}: {where}.secretRef.{key.value}: "
                "must be a non-empty string"
            )
        ref[str(key.value)] = str(value.value)
    if set(ref) != {"name", "key"}:
        raise InputError(
            f"{document.at(found[0])}: {where}.secretRef: needs exactly name and key "
            f"(found: {', '.join(sorted(ref)) or 'none'})"
        )
    return SecretRef(ref["name"], ref["key"])


def load_outputs(path: str) -> dict[str, dict[str, OutputValue]]:
    """The ``--outputs`` file: resource -> output -> text or {secretRef: {name, key}}."""
    document = load_document(path, "a mapping of resource outputs")
    root = document.node
    if not isinstance(root, yaml.MappingNode):
        raise InputError(
            f"{document.at(_line(root))}: expected a mapping resource -> output -> value, "
            f"found {_describe(document.data)}"
        )
    result: dict[str, dict[str, OutputValue]] = {}
    problems: list[str] = []
    for resource_key, outputs_node in root.value:
        resource = str(resource_key.value)
        if not isinstance(outputs_node, yaml.MappingNode):
            problems.append(
                f"{document.at(_line(resource_key))}: {resource}: expected a mapping of "
                "output names to values"
            )
            continue
        outputs: dict[str, OutputValue] = {}
        for output_key, value_node in outputs_node.value:
            where = f"{resource}.{output_key.value}"
            try:
                outputs[str(output_key.value)] = _output_value(document, where, value_node)
            except InputError as err:
                problems.extend(err.lines)
        result[resource] = outputs
    if problems:
        raise InputError(*problems)
    return result


def _render_problems(shown: str, error: RenderError, outputs_given: bool) -> list[str]:
    lines = [f"{shown}: {problem.reason}: {problem.message}" for problem in error.problems]
    if any(problem.reason == Reason.OUTPUTS_UNAVAILABLE for problem in error.problems):
        hint = OUTPUTS_HINT if not outputs_given else "add them to the --outputs file"
        lines.append(f"{shown}: the Workload needs resource outputs to render; {hint}")
    return lines


def _render(args: argparse.Namespace) -> int:
    workload_doc, environment_doc = _collect(
        lambda: load_document(args.filename, "a Workload"),
        lambda: load_document(args.environment, "an Environment"),
    )
    _collect(
        lambda: _raise_all(_check_kind(workload_doc, "Workload", API_VERSION)),
        lambda: _raise_all(_check_kind(environment_doc, "Environment", API_VERSION)),
    )
    data = copy.deepcopy(workload_doc.data)
    environment_spec = environment_doc.data.get("spec")
    environment_namespace = (
        environment_spec.get("namespace") if isinstance(environment_spec, dict) else None
    )
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("namespace") and environment_namespace:
        metadata["namespace"] = environment_namespace
    workload, environment, outputs = _collect(
        lambda: _validate(Workload, workload_doc, data),
        lambda: _validate(Environment, environment_doc),
        lambda: load_outputs(args.outputs) if args.outputs else {},
    )
    try:
        rendered = render_workload(workload, environment, outputs)
    except RenderError as err:
        raise InputError(*_render_problems(workload_doc.path, err, bool(args.outputs))) from None
    if args.output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "items": rendered.manifests}
        sys.stdout.write(json.dumps(listing, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_yaml_stream(rendered.manifests))
    return 0


def _raise_all(problems: list[str]) -> None:
    if problems:
        raise InputError(*problems)


# -- berth import ---------------------------------------------------------------------------

SCORE_API_VERSION = "score.dev/v1b1"
SCORE_FIELDS = ("apiVersion", "metadata", "service", "containers", "resources")


def _file_entries(files: Any) -> Iterator[tuple[str | int, dict[str, Any]]]:
    """(key in the YAML, file spec) of a container's files, map form or list form."""
    if isinstance(files, dict):
        for target, spec in files.items():
            if isinstance(spec, dict):
                yield str(target), spec
    elif isinstance(files, list):
        for index, spec in enumerate(files):
            if isinstance(spec, dict):
                yield index, spec


def _inline_file(document: Document, loc: Loc, spec: dict[str, Any], base: Path) -> None:
    """Replace ``source`` by ``content`` (UTF-8 text) or ``binaryContent`` (base64)."""
    source = spec.get("source")
    if not isinstance(source, str) or not source:
        return
    line, _ = locate(document.node, (*loc, "source"))
    where = ".".join(str(part) for part in loc)
    path = base / source
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(
            f"{document.at(line)}: {where}.source: cannot read {path}: {err.strerror or err}"
        ) from None
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" in text:
        text = None
    inlined: dict[str, Any] = {}
    for key, value in spec.items():
        if key != "source":
            inlined[key] = value
        elif text is not None:
            inlined["content"] = text
        else:
            inlined["binaryContent"] = base64.b64encode(raw).decode("ascii")
    spec.clear()
    spec.update(inlined)


def _image_flags(values: Sequence[str]) -> tuple[str | None, dict[str, str], list[str]]:
    """``--image IMAGE`` (every container whose image is '.') and ``--image CONTAINER=IMAGE``
    (that container, whatever its image): (default, per container, problems)."""
    default: str | None = None
    per_container: dict[str, str] = {}
    problems: list[str] = []
    for value in values:
        container, sep, image = value.partition("=")
        if not sep:
            container, image = "", value
        if not image or image == BUILD_HERE_IMAGE or any(c.isspace() for c in image):
            problems.append(f"berth import: --image {value!r}: expected an image reference")
        elif not sep:
            if default is not None and default != image:
                problems.append(
                    f"berth import: --image given twice ({default!r}, {image!r}); use "
                    "--image CONTAINER=IMAGE for different containers"
                )
            default = image
        elif not re.match(DNS_LABEL_PATTERN, container):
            problems.append(
                f"berth import: --image {value!r}: {container!r} is not a container name"
            )
        else:
            per_container[container] = image
    return default, per_container, problems


def _fill_images(document: Document, containers: Any, values: Sequence[str]) -> list[str]:
    """Set the images --image gives; every image '.' left is a problem naming the fix."""
    default, per_container, problems = _image_flags(values)
    if problems:
        return problems
    if not isinstance(containers, dict):
        return []
    for name in sorted(per_container):
        if name not in containers:
            problems.append(
                f"berth import: --image {name}={per_container[name]}: the Score file has no "
                f"container {name!r} (containers: {', '.join(sorted(map(str, containers)))})"
            )
    for name, container in containers.items():
        if not isinstance(container, dict):
            continue
        if str(name) in per_container:
            container["image"] = per_container[str(name)]
        elif container.get("image") == BUILD_HERE_IMAGE:
            if default is not None:
                container["image"] = default
            else:
                line, _ = locate(document.node, ("containers", str(name), "image"))
                problems.append(
                    f"{document.at(line)}: containers.{name}.image: '.' is Score's image built "
                    "from this directory, which a cluster cannot pull; build and push it, then "
                    f"pass --image IMAGE (every '.' image) or --image {name}=IMAGE"
                )
    return problems


def _check_flag(flag: str, value: str | None, pattern: str, what: str) -> list[str]:
    if value is None or (len(value) <= 63 and re.match(pattern, value)):
        return []
    return [f"berth import: {flag} {value!r} is not {what}"]


def _import(args: argparse.Namespace) -> int:
    flags = [
        *_check_flag("--name", args.name, DNS_1035_LABEL_PATTERN, "a DNS-1035 label"),
        *_check_flag("--namespace", args.namespace, DNS_LABEL_PATTERN, "a DNS-1123 label"),
    ]
    if args.environment is not None and (
        len(args.environment) > 253 or not re.match(DNS_SUBDOMAIN_PATTERN, args.environment)
    ):
        flags.append(f"berth import: --environment {args.environment!r} is not a valid name")
    _raise_all(flags)
    document = load_document(args.score, "a Score workload")
    data = document.data
    root_line = _line(document.node)
    if not isinstance(data, dict):
        raise InputError(
            f"{document.at(root_line)}: expected a Score workload, found {_describe(data)}"
        )
    problems: list[str] = []
    if data.get("apiVersion") != SCORE_API_VERSION:
        found = _child(document.node, "apiVersion")
        what = f"is {data['apiVersion']!r}" if "apiVersion" in data else "is missing"
        problems.append(
            f"{document.at(found[0] if found else root_line)}: apiVersion {what}; "
            f"expected {SCORE_API_VERSION!r}"
        )
    for key in data:
        if key not in SCORE_FIELDS:
            line, _ = locate(document.node, (str(key),))
            problems.append(
                f"{document.at(line)}: {key}: not a field of a Score workload "
                f"(fields: {', '.join(SCORE_FIELDS)})"
            )
    metadata = data.get("metadata")
    meta_line, _ = locate(document.node, ("metadata",))
    if not isinstance(metadata, dict):
        problems.append(
            f"{document.at(meta_line)}: metadata: expected a mapping with a name, "
            f"found {_describe(metadata)}"
        )
        metadata = {}
    name = args.name if args.name is not None else metadata.get("name")
    if args.name is None:
        name_line, _ = locate(document.node, ("metadata", "name"))
        if name is None:
            problems.append(f"{document.at(name_line)}: metadata.name: Field required")
        elif (
            not isinstance(name, str)
            or len(name) > 63
            or not re.match(DNS_1035_LABEL_PATTERN, name)
        ):
            problems.append(
                f"{document.at(name_line)}: metadata.name: {name!r} is not a DNS-1035 label "
                "(at most 63 lowercase letters, digits and '-', starting with a letter and "
                "ending with a letter or digit); fix it or pass --name"
            )
    _raise_all(problems)

    containers = copy.deepcopy(data.get("containers"))
    problems.extend(_fill_images(document, containers, args.image or []))
    _raise_all(problems)
    base = Path(document.path).parent if args.score != "-" else Path.cwd()
    for container_name, container in containers.items() if isinstance(containers, dict) else ():
        if not isinstance(container, dict):
            continue
        for key, file_spec in _file_entries(container.get("files")):
            loc: Loc = ("containers", str(container_name), "files", key)
            try:
                _inline_file(document, loc, file_spec, base)
            except InputError as err:
                problems.extend(err.lines)
    _raise_all(problems)

    spec: dict[str, Any] = {}
    if args.environment is not None:
        spec["environment"] = args.environment
    score_metadata = {key: value for key, value in metadata.items() if key != "name"}
    if score_metadata:
        spec["metadata"] = copy.deepcopy(score_metadata)
    if "containers" in data:
        spec["containers"] = containers
    for key in ("service", "resources"):
        if key in data:
            spec[key] = copy.deepcopy(data[key])
    object_metadata: dict[str, Any] = {"name": name}
    if args.namespace is not None:
        object_metadata["namespace"] = args.namespace
    workload = {
        "apiVersion": API_VERSION,
        "kind": "Workload",
        "metadata": object_metadata,
        "spec": spec,
    }

    def to_score(loc: Loc) -> Loc:
        return loc[1:] if loc[:1] == ("spec",) else loc

    try:
        Workload.model_validate(workload)
    except ValidationError as err:
        raise InputError(*validation_problems(document, err, to_score)) from None
    sys.stdout.write(to_yaml(workload))
    return 0


# -- berth crds -----------------------------------------------------------------------------


def _crds(args: argparse.Namespace) -> int:
    from berth.api.crdgen import build_crds, crd_filename, dump_crd

    crds = build_crds()
    if args.out is None:
        sys.stdout.write("".join(dump_crd(crd) for crd in crds))
        return 0
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        for crd in crds:
            path = out / crd_filename(crd)
            text = dump_crd(crd)
            if path.exists() and path.read_text(encoding="utf-8") == text:
                print(f"unchanged {path}")
            else:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    except OSError as err:
        raise InputError(f"{out}: cannot write: {err.strerror or err}") from None
    return 0


def _add_offline(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = sub.add_parser(
        "render",
        help="print the manifests the operator would apply, offline",
        description="Render a Workload in an Environment, offline, into the manifests the "
        "operator would apply (the same code path), as a YAML stream or a JSON List. The "
        "output is deterministic, for GitOps previews. The Workload's namespace defaults to "
        "the Environment's spec.namespace. Exit code 1 on bad input.",
        epilog="example: berth render -f examples/checkout.yaml -e examples/environment.yaml",
    )
    render.add_argument(
        "-f",
        "--filename",
        required=True,
        metavar="WORKLOAD",
        help="the Workload's YAML file ('-' reads stdin)",
    )
    render.add_argument(
        "-e",
        "--environment",
        required=True,
        metavar="ENVIRONMENT",
        help="the Environment's YAML file",
    )
    render.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json"),
        default="yaml",
        help="yaml: a multi-document stream (default); json: a v1 List",
    )
    render.add_argument(
        "--outputs",
        metavar="FILE",
        help="YAML mapping resource -> output -> value for the Workload's resources; a "
        "secret output is {secretRef: {name: <Secret>, key: <key>}} and becomes a "
        "secretKeyRef",
    )

    score = sub.add_parser(
        "import",
        help="convert a Score file into a Workload",
        description="Convert a Score workload (score.dev/v1b1) into a self-contained "
        "Workload on stdout: files with source: are read (relative to the Score file) and "
        "inlined as content (text) or binaryContent (base64). Exit code 1 on bad input.",
        epilog="example: berth import score.yaml --namespace team-a-dev | kubectl apply -f -",
    )
    score.add_argument("score", metavar="SCORE_FILE", help="the Score file ('-' reads stdin)")
    score.add_argument("--name", help="the Workload's name; default: the Score metadata.name")
    score.add_argument("--namespace", help="the Workload's namespace; default: none")
    score.add_argument("--environment", help="set spec.environment to this Environment")
    score.add_argument(
        "-i",
        "--image",
        action="append",
        metavar="[CONTAINER=]IMAGE",
        help="the image for every container whose image is '.' (Score's image built here), "
        "as score-k8s's --image/-i; or, as CONTAINER=IMAGE, for that container whatever its "
        "image; repeatable",
    )

    crds = sub.add_parser(
        "crds",
        help="print or write Berth's CustomResourceDefinitions",
        description="Print the CRDs generated from the API models, or write them into a "
        "directory as berth.dev_<plural>.yaml.",
    )
    crds.add_argument(
        "--out", type=Path, metavar="DIR", help="write the CRDs into DIR instead of stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth",
        description="Berth: Score-compatible Workloads in platform-owned Environments.",
    )
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_offline(sub)
    return parser


OFFLINE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "render": _render,
    "import": _import,
    "crds": _crds,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    command = OFFLINE_COMMANDS.get(args.command)
    if command is not None:
        try:
            return command(args)
        except InputError as err:
            for line in err.lines:
                print(line, file=sys.stderr)
            return 1
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
