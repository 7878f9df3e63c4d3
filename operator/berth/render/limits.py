"""What the API server would refuse in a rendered Workload, found before it is sent.

The schema refuses most bad input at admission; some of the API server's rules can only
be checked on what Berth renders from it (sizes add up across files, a Score volume
``path`` becomes a ``subPath``). Each rule here mirrors one of Kubernetes' own validations
and names the Workload field at fault, so the developer gets a message about *their*
spec rather than about a Deployment they never wrote. Whatever slips through is still
reported: the API server's own answer ends on the Workload's status (kube.children).

Pure: manifests in, problems out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from berth.problems import Problem
from berth.reasons import Reason

# Kubernetes' limits (k8s.io/apimachinery and pkg/apis/core/validation).
MAX_CONFIGMAP_BYTES = 1024 * 1024  # data and binaryData values together
MAX_ANNOTATIONS_BYTES = 256 * 1024  # keys and values of one object's annotations together
HTTP_HEADER_NAME = re.compile(r"^[-A-Za-z0-9]+$")
# Since Kubernetes 1.34 an environment variable name may be any printable ASCII but "=".
ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def _configmap(manifest: Mapping[str, Any]) -> Iterable[Problem]:
    data = manifest.get("data") or {}
    binary = manifest.get("binaryData") or {}
    # binaryData travels base64-encoded; the limit is on the decoded bytes.
    size = sum(len(str(v).encode()) for v in data.values()) + sum(
        len(str(v)) * 3 // 4 for v in binary.values()
    )
    if size > MAX_CONFIGMAP_BYTES:
        yield Problem(
            Reason.FILES_TOO_LARGE,
            f"the containers' files add up to {_kib(size)}; Kubernetes keeps them in a "
            f"ConfigMap, which holds at most {_kib(MAX_CONFIGMAP_BYTES)}: make the files "
            "smaller, or put large content into the image or a volume",
        )


def _annotations_size(annotations: Mapping[str, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())


def _service(manifest: Mapping[str, Any]) -> Iterable[Problem]:
    seen: dict[tuple[int, str], str] = {}
    for port in manifest.get("spec", {}).get("ports") or []:
        key = (int(port["port"]), str(port.get("protocol") or "TCP"))
        if key in seen:
            yield Problem(
                Reason.DUPLICATE_PORT,
                f"service.ports {seen[key]!r} and {port['name']!r} both use port {key[0]}/"
                f"{key[1]}; a Service port number (per protocol) may be used only once",
            )
        else:
            seen[key] = str(port["name"])


def _container(container: Mapping[str, Any]) -> Iterable[Problem]:
    name = container["name"]
    for var in container.get("env") or []:
        if not ENV_NAME.match(var["name"]):
            yield Problem(
                Reason.INVALID_VARIABLE_NAME,
                f"container {name!r} variable {var['name']!r}: a variable name may hold only "
                "printable ASCII characters other than '=' (no spaces at the ends, tabs, "
                "newlines or non-ASCII letters)",
            )
    for mount in container.get("volumeMounts") or []:
        sub = mount.get("subPath")
        if sub is None:
            continue
        if posixpath.isabs(sub) or ".." in sub.split("/"):
            yield Problem(
                Reason.INVALID_VOLUME_PATH,
                f"container {name!r} volume {mount['mountPath']!r}: path {sub!r} must be "
                "relative to the volume's root and must not contain '..' (e.g. "
                f"{sub.lstrip('/') or 'data'!r})",
            )
    for field in ("livenessProbe", "readinessProbe", "startupProbe"):
        http = (container.get(field) or {}).get("httpGet") or {}
        for header in http.get("httpHeaders") or []:
            if not HTTP_HEADER_NAME.match(str(header.get("name", ""))):
                yield Problem(
                    Reason.INVALID_PROBE,
                    f"container {name!r} {field} httpGet header {header.get('name')!r}: a "
                    "header name may hold only letters, digits and '-'",
                )


def _deployment(manifest: Mapping[str, Any]) -> Iterable[Problem]:
    template = manifest.get("spec", {}).get("template", {})
    annotations = template.get("metadata", {}).get("annotations") or {}
    size = _annotations_size(annotations)
    if size > MAX_ANNOTATIONS_BYTES:
        yield Problem(
            Reason.ANNOTATIONS_TOO_LARGE,
            f"metadata.annotations add up to {_kib(size)}; Kubernetes allows at most "
            f"{_kib(MAX_ANNOTATIONS_BYTES)} of annotations on a Pod: keep large values out "
            "of annotations (a file is the place for them)",
        )
    pod = template.get("spec", {})
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        yield from _container(container)


CHECKS = {"ConfigMap": _configmap, "Service": _service, "Deployment": _deployment}


def check_api_limits(manifests: Iterable[Mapping[str, Any]]) -> list[Problem]:
    """Problems the API server would refuse the manifests for, in manifest order."""
    problems: list[Problem] = []
    for manifest in manifests:
        check = CHECKS.get(str(manifest.get("kind")))
        if check is not None:
            problems.extend(check(manifest))
    return problems
