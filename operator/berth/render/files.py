"""Container files (one ConfigMap per Workload) and volumes (PersistentVolumeClaims).

Files: every file of every container becomes one key of the ConfigMap
``<workload>-files`` (``data`` for content, ``binaryData`` for binaryContent). The key is
``<container>_<target path with '/' as '_'>`` (characters a ConfigMap key cannot hold
become '_'; keys that would collide get a hash suffix). The ConfigMap is mounted with
``subPath`` at each target, with the file's mode. A file whose content references a
secret output is an error (SecretInFile): files are not secret.

Volumes: ``source: ${resources.<name>}`` mounts the PersistentVolumeClaim named by that
resource's ``claimName`` output, at the target, with ``readOnly`` and ``subPath`` (path).
A resource with an ``emptyDir`` output instead (its value is the medium: empty for the
node's disk, ``Memory`` for tmpfs) is an emptyDir volume of the Pod, as score-k8s's
default ``volume``; an optional ``sizeLimit`` output bounds it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.api.container import Container
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.errors import RenderError
from berth.render.placeholders import Placeholder, Resolver, parse

FILES_VOLUME = "files"
DEFAULT_MODE = 0o644
_KEY_MAX = 253
_VOLUME_NAME_MAX = 63


def files_configmap_name(workload_name: str) -> str:
    return f"{workload_name}-files"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def file_keys(targets: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """ConfigMap keys for (container, target) pairs: readable, valid, unique."""
    base: dict[tuple[str, str], str] = {}
    for container, target in targets:
        key = re.sub(r"[^-._a-zA-Z0-9]", "_", f"{container}{target.replace('/', '_')}")
        if len(key) > _KEY_MAX - 9:
            key = key[: _KEY_MAX - 9]
        base[(container, target)] = key
    counts: dict[str, int] = {}
    for key in base.values():
        counts[key] = counts.get(key, 0) + 1
    return {
        pair: f"{key}-{_digest(pair[0] + chr(0) + pair[1])}" if counts[key] > 1 else key
        for pair, key in base.items()
    }


def claim_volume_name(resource: str) -> str:
    """Pod volume name for the claim of resource ``resource``."""
    name = f"pvc-{resource}"
    if len(name) > _VOLUME_NAME_MAX:
        name = f"{name[: _VOLUME_NAME_MAX - 9].rstrip('-')}-{_digest(resource)}"
    return name


def parse_mode(mode: str | None) -> int | None:
    """An octal mode string ("0644", "600") as the integer Kubernetes wants."""
    return int(mode, 8) if mode is not None else None


@dataclass
class RenderedFiles:
    """Files and volumes of all containers of a Workload."""

    data: dict[str, str] = field(default_factory=dict)
    binary_data: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    claim_volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    mounts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def has_files(self) -> bool:
        return bool(self.data or self.binary_data)


def render_files(containers: Mapping[str, Container], resolver: Resolver) -> RenderedFiles:
    """ConfigMap content, pod volumes and per-container mounts. Problems are collected."""
    result = RenderedFiles()
    keys = file_keys(
        [(name, target) for name in sorted(containers) for target in containers[name].files or {}]
    )
    for name in sorted(containers):
        container = containers[name]
        mounts: list[dict[str, Any]] = []
        files = container.files or {}
        for target in sorted(files):
            file = files[target]
            where = f"container {name!r} file {target!r}"
            key = keys[(name, target)]
            if file.source is not None:
                result.problems.append(
                    Problem(
                        Reason.FILE_SOURCE_NOT_INLINED,
                        f"{where} has source {file.source!r}, which only `berth import` can "
                        "read; inline the file as content (berth import does this)",
                    )
                )
                continue
            if file.binary_content is not None:
                result.binary_data[key] = file.binary_content
            else:
                content = file.content or ""
                if not file.no_expand:
                    try:
                        content = resolver.text(
                            content,
                            where,
                            secret_reason=Reason.SECRET_IN_FILE,
                            secret_hint=(
                                "secrets cannot go into files yet; pass it as a variable "
                                "instead, or set noExpand: true if the placeholder is meant "
                                "literally"
                            ),
                        )
                    except RenderError as error:
                        result.problems.extend(error.problems)
                        continue
                result.data[key] = content
            item: dict[str, Any] = {"key": key, "path": key}
            mode = parse_mode(file.mode)
            if mode is not None:
                item["mode"] = mode
            result.items.append(item)
            mounts.append(
                {"name": FILES_VOLUME, "mountPath": target, "subPath": key, "readOnly": True}
            )
        volumes = container.volumes or {}
        for target in sorted(volumes):
            volume = volumes[target]
            where = f"container {name!r} volume {target!r}"
            try:
                resource, source = _volume_source(volume.source, where, resolver)
            except RenderError as error:
                result.problems.extend(error.problems)
                continue
            volume_name = claim_volume_name(resource)
            result.claim_volumes[volume_name] = {"name": volume_name, **source}
            mount: dict[str, Any] = {"name": volume_name, "mountPath": target}
            if volume.path:
                mount["subPath"] = volume.path
            if volume.read_only is not None:
                mount["readOnly"] = volume.read_only
            mounts.append(mount)
        result.mounts[name] = sorted(mounts, key=lambda mount: str(mount["mountPath"]))
    result.items.sort(key=lambda item: str(item["key"]))
    return result


def files_volume(workload_name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod volume that projects the files ConfigMap."""
    return {
        "name": FILES_VOLUME,
        "configMap": {
            "name": files_configmap_name(workload_name),
            "defaultMode": DEFAULT_MODE,
            "items": items,
        },
    }


def _volume_source(source: str, where: str, resolver: Resolver) -> tuple[str, dict[str, Any]]:
    segments = parse(source, where)
    if len(segments) != 1 or not isinstance(segments[0], Placeholder):
        raise RenderError.single(
            Reason.INVALID_PLACEHOLDER,
            f"{where}: source {source!r} must be exactly one ${{resources.<name>}} placeholder "
            "naming a volume resource (declare one, e.g. resources: {data: {type: volume}}, "
            "and write source: ${resources.data})",
        )
    placeholder = segments[0]
    if placeholder.path[0] != "resources" or len(placeholder.path) != 2:
        raise RenderError.single(
            Reason.INVALID_PLACEHOLDER,
            f"{where}: source {source!r} must name a resource as ${{resources.<name>}}",
        )
    resource = resolver.resource_name(placeholder, where)
    outputs = resolver.resource_outputs(resource, placeholder, where)
    claim = outputs.get("claimName")
    if claim is None and "emptyDir" in outputs:
        empty_dir: dict[str, Any] = {}
        for key, output in (("medium", "emptyDir"), ("sizeLimit", "sizeLimit")):
            value = outputs.get(output)
            if value is not None and not isinstance(value, str):
                raise RenderError.single(
                    Reason.INVALID_OUTPUT,
                    f"{where}: output {output!r} of resource {resource!r} is a secret output; "
                    "a volume's outputs must be plain",
                )
            if value:
                empty_dir[key] = value
        return resource, {"emptyDir": empty_dir}
    if claim is None:
        has = f"it has outputs: {', '.join(sorted(outputs))}" if outputs else "it has no outputs"
        raise RenderError.single(
            Reason.UNKNOWN_OUTPUT,
            f"{where}: {placeholder.text} has no output 'claimName' or 'emptyDir' ({has}); a "
            "volume source must be a resource that provides a PersistentVolumeClaim or an "
            "emptyDir",
        )
    if not isinstance(claim, str):
        raise RenderError.single(
            Reason.INVALID_OUTPUT,
            f"{where}: output 'claimName' of resource {resource!r} is a secret output; a "
            "claim name must be a plain output",
        )
    return resource, {"persistentVolumeClaim": {"claimName": claim}}
