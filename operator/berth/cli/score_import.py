"""``berth import``: a Score file (score.dev/v1b1) as a self-contained Workload.

Files with ``source:`` are read (relative to the Score file) and inlined as ``content``
(text) or ``binaryContent`` (base64); ``--image`` fills Score's ``.`` images.
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from berth.api import API_VERSION, Workload
from berth.api.common import DNS_1035_LABEL_PATTERN, DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN
from berth.api.container import BUILD_HERE_IMAGE
from berth.cli.checks import raise_all, validation_problems
from berth.cli.loader import (
    Document,
    InputError,
    Loc,
    child,
    describe,
    line_of,
    load_document,
    locate,
)
from berth.cli.output import to_yaml


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _flag_problems(args: argparse.Namespace) -> list[str]:
    problems = [
        *_check_flag("--name", args.name, DNS_1035_LABEL_PATTERN, "a DNS-1035 label"),
        *_check_flag("--namespace", args.namespace, DNS_LABEL_PATTERN, "a DNS-1123 label"),
    ]
    if args.environment is not None and (
        len(args.environment) > 253 or not re.match(DNS_SUBDOMAIN_PATTERN, args.environment)
    ):
        problems.append(f"berth import: --environment {args.environment!r} is not a valid name")
    return problems


def _top_level_problems(document: Document, data: dict[str, Any]) -> list[str]:
    """The Score workload's apiVersion and the fields at its top."""
    problems: list[str] = []
    if data.get("apiVersion") != SCORE_API_VERSION:
        found = child(document.node, "apiVersion")
        what = f"is {data['apiVersion']!r}" if "apiVersion" in data else "is missing"
        problems.append(
            f"{document.at(found[0] if found else line_of(document.node))}: apiVersion {what}; "
            f"expected {SCORE_API_VERSION!r}"
        )
    for key in data:
        if key not in SCORE_FIELDS:
            line, _ = locate(document.node, (str(key),))
            problems.append(
                f"{document.at(line)}: {key}: not a field of a Score workload "
                f"(fields: {', '.join(SCORE_FIELDS)})"
            )
    return problems


def _metadata(document: Document, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The Score workload's metadata (empty when it is not a mapping), and what is wrong
    with it."""
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        return metadata, []
    meta_line, _ = locate(document.node, ("metadata",))
    return {}, [
        f"{document.at(meta_line)}: metadata: expected a mapping with a name, "
        f"found {describe(metadata)}"
    ]


def _name_problems(document: Document, name: Any) -> list[str]:
    """What is wrong with metadata.name, the Workload's name unless --name is given."""
    name_line, _ = locate(document.node, ("metadata", "name"))
    if name is None:
        return [f"{document.at(name_line)}: metadata.name: Field required"]
    if not isinstance(name, str) or len(name) > 63 or not re.match(DNS_1035_LABEL_PATTERN, name):
        return [
            f"{document.at(name_line)}: metadata.name: {name!r} is not a DNS-1035 label "
            "(at most 63 lowercase letters, digits and '-', starting with a letter and "
            "ending with a letter or digit); fix it or pass --name"
        ]
    return []


def _inline_files(document: Document, containers: Any, base: Path) -> list[str]:
    """Read every file's ``source`` into its content; the problems of those that fail."""
    problems: list[str] = []
    for container_name, container in containers.items() if isinstance(containers, dict) else ():
        if not isinstance(container, dict):
            continue
        for key, file_spec in _file_entries(container.get("files")):
            loc: Loc = ("containers", str(container_name), "files", key)
            try:
                _inline_file(document, loc, file_spec, base)
            except InputError as err:
                problems.extend(err.lines)
    return problems


def _workload(
    args: argparse.Namespace,
    data: dict[str, Any],
    metadata: dict[str, Any],
    containers: Any,
    name: Any,
) -> dict[str, Any]:
    """The Workload: Score's fields under spec, its name and the flags' namespace and
    Environment."""
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
    return {
        "apiVersion": API_VERSION,
        "kind": "Workload",
        "metadata": object_metadata,
        "spec": spec,
    }


def _to_score(loc: Loc) -> Loc:
    """A place in the Workload as the place in the Score file it came from."""
    return loc[1:] if loc[:1] == ("spec",) else loc


def main(args: argparse.Namespace) -> int:
    raise_all(_flag_problems(args))
    document = load_document(args.score, "a Score workload")
    data = document.data
    if not isinstance(data, dict):
        raise InputError(
            f"{document.at(line_of(document.node))}: expected a Score workload, "
            f"found {describe(data)}"
        )
    problems = _top_level_problems(document, data)
    metadata, metadata_problems = _metadata(document, data)
    problems.extend(metadata_problems)
    name = args.name if args.name is not None else metadata.get("name")
    if args.name is None:
        problems.extend(_name_problems(document, name))
    raise_all(problems)

    containers = copy.deepcopy(data.get("containers"))
    raise_all(_fill_images(document, containers, args.image or []))
    base = Path(document.path).parent if args.score != "-" else Path.cwd()
    raise_all(_inline_files(document, containers, base))

    workload = _workload(args, data, metadata, containers, name)
    try:
        Workload.model_validate(workload)
    except ValidationError as err:
        raise InputError(*validation_problems(document, err, _to_score)) from None
    sys.stdout.write(to_yaml(workload))
    return 0
