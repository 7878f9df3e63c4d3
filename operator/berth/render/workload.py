"""Render a Workload in its Environment into Kubernetes manifests.

``render_workload(workload, environment, outputs)`` returns a ``RenderedWorkload`` or
raises a ``RenderError`` that carries every problem found (input errors and policy
violations alike; ``error.reason`` is the most important one, ``error.transient`` says
whether waiting for resource outputs may fix it).

Manifests (plain dicts, in this order): the files ConfigMap ``<name>-files`` (only if a
container has files), the Deployment ``<name>``, the Service ``<name>`` (only if
``service.ports`` is set). Each carries the Workload labels (see ``berth.render.labels``)
and the Environment's namespace. No ownerReferences: the kube layer adds them (it knows
the Workload's uid).

Pure and deterministic: same inputs, same manifests, byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from berth.api.common import DNS_1035_LABEL_PATTERN
from berth.api.container import Container, Probe
from berth.api.environment import Environment
from berth.api.workload import ServicePort, Workload
from berth.names import CHECKSUM_ANNOTATION, SHARD_BUCKET_LABEL
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.compute import effective_replicas, merged_resources
from berth.render.env import render_container_env
from berth.render.errors import RenderError
from berth.render.files import (
    RenderedFiles,
    files_configmap_name,
    files_volume,
    render_files,
)
from berth.render.labels import selector_labels, workload_labels
from berth.render.limits import check_api_limits
from berth.render.order import split_containers
from berth.render.outputs import Outputs, SecretRef
from berth.render.placeholders import Resolver, resource_order
from berth.render.policy import check_policy
from berth.render.url import route_url

CLUSTER_DOMAIN = "cluster.local"
REVISION_HISTORY_LIMIT = 3

# Security contexts by the Environment's Pod Security level: what each profile requires,
# and no more. ``baseline`` lets an image run as root with the runtime's default
# capabilities (nginx, redis and busybox do); the seccomp default stays on.
POD_SECURITY_CONTEXTS: dict[str, dict[str, Any]] = {
    "restricted": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "baseline": {"seccompProfile": {"type": "RuntimeDefault"}},
}
CONTAINER_SECURITY_CONTEXTS: dict[str, dict[str, Any] | None] = {
    "restricted": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "baseline": None,
}


@dataclass(frozen=True)
class RenderedWorkload:
    """The desired children of a Workload and the facts its status reports."""

    manifests: list[dict[str, Any]]
    """ConfigMap (if files), Deployment, Service (if ports), in that order."""
    replicas: int
    """Desired Pods: spec.replicas, else the Environment's default."""
    endpoint: str | None
    """``<service>.<namespace>.svc.<cluster domain>:<port>`` of the first port by name."""
    url: str | None
    """The external URL of the Workload's route resource, if it has one."""


def _metadata(name: str, namespace: str, workload: Workload) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": workload_labels(workload, namespace)}


def _sorted_ports(workload: Workload) -> list[tuple[str, ServicePort]]:
    service = workload.spec.service
    ports = service.ports if service is not None and service.ports else {}
    return [(name, ports[name]) for name in sorted(ports)]


def _probe(
    probe: Probe, where: str, default_port: int | None, resolver: Resolver
) -> dict[str, Any]:
    if probe.exec is not None:
        return {"exec": {"command": list(probe.exec.command)}}
    http = probe.http_get
    assert http is not None  # the model requires httpGet or exec
    port = http.port if http.port is not None else default_port
    if port is None:
        raise RenderError.single(
            Reason.INVALID_PROBE,
            f"{where}: httpGet has no port and the workload has no service ports to take "
            "one from; set httpGet.port",
        )

    def expand(text: str, field: str) -> str:
        # Placeholders mean the same here as in variables; a secret would be written
        # into the Deployment as text, so it is refused.
        return resolver.text(
            text,
            f"{where} httpGet {field}",
            secret_reason=Reason.SECRET_IN_PROBE,
            secret_hint="a probe is plain text in the Deployment; use a non-secret output",
        )

    result: dict[str, Any] = {"path": expand(http.path, "path"), "port": port}
    if http.scheme is not None:
        result["scheme"] = http.scheme
    if http.host is not None:
        result["host"] = http.host
    if http.http_headers:
        result["httpHeaders"] = [
            {"name": h.name, "value": expand(h.value, f"header {h.name}")}
            for h in http.http_headers
        ]
    return {"httpGet": result}


def _check_identity(workload: Workload, environment: Environment) -> list[Problem]:
    problems: list[Problem] = []
    name = workload.metadata.name
    if len(name) > 63 or not re.match(DNS_1035_LABEL_PATTERN, name):
        problems.append(
            Problem(
                Reason.INVALID_NAME,
                f"Workload name {name!r} must be a DNS-1035 label (at most 63 lowercase "
                "letters, digits and '-', starting with a letter)",
            )
        )
    namespace = workload.metadata.namespace
    if namespace is not None and namespace != environment.spec.namespace:
        problems.append(
            Problem(
                Reason.NAMESPACE_MISMATCH,
                f"Workload is in namespace {namespace!r}, but Environment "
                f"{environment.metadata.name!r} runs Workloads in namespace "
                f"{environment.spec.namespace!r}",
            )
        )
    wanted = workload.spec.environment
    if wanted is not None and wanted != environment.metadata.name:
        problems.append(
            Problem(
                Reason.ENVIRONMENT_MISMATCH,
                f"Workload asks for Environment {wanted!r}, but was rendered for "
                f"{environment.metadata.name!r}",
            )
        )
    return problems


def _fold_waiting(problems: list[Problem]) -> list[Problem]:
    """One OutputsUnavailable problem for all resources whose outputs are missing."""
    waiting = sorted({p.resource or "" for p in problems if p.reason == Reason.OUTPUTS_UNAVAILABLE})
    if not waiting:
        return problems
    others = [p for p in problems if p.reason != Reason.OUTPUTS_UNAVAILABLE]
    names = ", ".join(repr(name) for name in waiting)
    which = f"resource {names}, which is" if len(waiting) == 1 else f"resources {names}, which are"
    return [
        *others,
        Problem(
            Reason.OUTPUTS_UNAVAILABLE,
            f"waiting for the outputs of {which} not provisioned or not ready yet",
        ),
    ]


def config_checksum(
    data: dict[str, str], binary_data: dict[str, str], secret_refs: Iterable[SecretRef]
) -> str:
    """sha256 of the files' content and the names of the secrets (and keys) the Pods read."""
    payload = {
        "binaryData": binary_data,
        "data": data,
        "secrets": sorted(f"{ref.secret_name}/{ref.key}" for ref in set(secret_refs)),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


DEFAULT_PROGRESS_DEADLINE_SECONDS = 600  # Kubernetes' own default


def _progress_deadline(environment: Environment) -> int:
    defaults = environment.spec.defaults
    if defaults is None or defaults.progress_deadline_seconds is None:
        return DEFAULT_PROGRESS_DEADLINE_SECONDS
    return defaults.progress_deadline_seconds


def render_workload(
    workload: Workload,
    environment: Environment,
    outputs: Outputs,
    *,
    cluster_domain: str = CLUSTER_DOMAIN,
    shard_bucket: int | None = None,
) -> RenderedWorkload:
    """The manifests of ``workload`` in ``environment``; raises RenderError on bad input.
    ``shard_bucket``: its children's, if not their namespace's own (_label_bucket)."""
    name = workload.metadata.name
    namespace = environment.spec.namespace
    problems: list[Problem] = _check_identity(workload, environment)
    problems.extend(check_policy(workload, environment))
    try:
        resource_order(workload)
    except RenderError as error:
        problems.extend(error.problems)

    resolver = Resolver(workload, outputs)
    containers = workload.spec.containers
    files = render_files(containers, resolver)
    problems.extend(files.problems)

    ports = _sorted_ports(workload)
    default_probe_port = (ports[0][1].target_port or ports[0][1].port) if ports else None
    rendered_containers: list[dict[str, Any]] = []
    secret_refs: set[SecretRef] = set()
    for container_name in sorted(containers):
        spec, refs, container_problems = _render_container(
            container_name,
            containers[container_name],
            environment=environment,
            resolver=resolver,
            files=files,
            default_probe_port=default_probe_port,
        )
        rendered_containers.append(spec)
        secret_refs |= refs
        problems.extend(container_problems)
    init_containers, rendered_containers, order_problems = split_containers(
        containers, rendered_containers
    )
    problems.extend(order_problems)
    url = route_url(workload, outputs)

    if problems:
        raise RenderError(_fold_waiting(problems))

    replicas = effective_replicas(workload, environment)
    manifests: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if files.has_files:
        manifests.append(_files_configmap(workload, namespace, files))
        volumes.append(files_volume(name, files.items))
    volumes.extend(files.claim_volumes[key] for key in sorted(files.claim_volumes))
    manifests.append(
        _deployment(
            workload,
            environment,
            replicas=replicas,
            containers=rendered_containers,
            init_containers=init_containers,
            volumes=volumes,
            checksum=config_checksum(files.data, files.binary_data, secret_refs),
        )
    )

    endpoint: str | None = None
    if ports:
        service_name = workload.spec.service_name(name)
        manifests.append(_service(service_name, namespace, workload, ports))
        endpoint = f"{service_name}.{namespace}.svc.{cluster_domain}:{ports[0][1].port}"

    limit_problems = check_api_limits(manifests)
    if limit_problems:
        raise RenderError(limit_problems)
    labelled = copy.deepcopy(_label_bucket(manifests, shard_bucket))
    return RenderedWorkload(manifests=labelled, replicas=replicas, endpoint=endpoint, url=url)


def _label_bucket(manifests: list[dict[str, Any]], bucket: int | None) -> list[dict[str, Any]]:
    # A preview's namespace is in its base's bucket (Cache.shard_bucket_of). The Pods'
    # labels too: with --shards, a replica watches only its buckets' Pods.
    if bucket is None:
        return manifests
    for manifest in manifests:
        labelled = [manifest["metadata"]]
        if manifest["kind"] == "Deployment":
            labelled.append(manifest["spec"]["template"]["metadata"])
        for meta in labelled:
            meta["labels"][SHARD_BUCKET_LABEL] = str(bucket)
    return manifests


def _render_container(
    container_name: str,
    container: Container,
    *,
    environment: Environment,
    resolver: Resolver,
    files: RenderedFiles,
    default_probe_port: int | None,
) -> tuple[dict[str, Any], frozenset[SecretRef], list[Problem]]:
    """One container of the Pod: (its spec, the Secret keys it reads, its problems)."""
    env, problems = render_container_env(container_name, container, resolver)
    resources, resource_problems = merged_resources(container_name, container, environment)
    problems = [*problems, *resource_problems]
    spec: dict[str, Any] = {"name": container_name, "image": container.image}
    if env.command is not None:
        spec["command"] = env.command
    if env.args is not None:
        spec["args"] = env.args
    if env.env:
        spec["env"] = env.env
    if resources:
        spec["resources"] = resources
    for field, probe in (
        ("livenessProbe", container.liveness_probe),
        ("readinessProbe", container.readiness_probe),
    ):
        if probe is not None:
            try:
                spec[field] = _probe(
                    probe, f"container {container_name!r} {field}", default_probe_port, resolver
                )
            except RenderError as error:
                problems.extend(error.problems)
    mounts = files.mounts.get(container_name, [])
    if mounts:
        spec["volumeMounts"] = mounts
    container_security = CONTAINER_SECURITY_CONTEXTS[environment.spec.pod_security_level()]
    if container_security is not None:
        spec["securityContext"] = copy.deepcopy(container_security)
    return spec, env.secret_refs, problems


def _files_configmap(workload: Workload, namespace: str, files: RenderedFiles) -> dict[str, Any]:
    configmap: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(files_configmap_name(workload.metadata.name), namespace, workload),
    }
    if files.data:
        configmap["data"] = files.data
    if files.binary_data:
        configmap["binaryData"] = files.binary_data
    return configmap


def _deployment(
    workload: Workload,
    environment: Environment,
    *,
    replicas: int,
    containers: list[dict[str, Any]],
    init_containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    checksum: str,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": copy.deepcopy(
            POD_SECURITY_CONTEXTS[environment.spec.pod_security_level()]
        ),
        "containers": containers,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if volumes:
        pod_spec["volumes"] = volumes
    name = workload.metadata.name
    score_metadata = workload.spec.metadata
    pod_annotations = dict(score_metadata.annotations or {}) if score_metadata else {}
    pod_annotations[CHECKSUM_ANNOTATION] = checksum
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, environment.spec.namespace, workload),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": _progress_deadline(environment),
            "selector": {"matchLabels": selector_labels(name)},
            "template": {
                "metadata": {
                    "labels": workload_labels(workload, environment.spec.namespace),
                    "annotations": dict(sorted(pod_annotations.items())),
                },
                "spec": pod_spec,
            },
        },
    }


def _service(
    service_name: str, namespace: str, workload: Workload, ports: list[tuple[str, ServicePort]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(service_name, namespace, workload),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(workload.metadata.name),
            "ports": [
                {
                    "name": port_name,
                    "port": port.port,
                    "targetPort": port.target_port or port.port,
                    "protocol": port.protocol,
                }
                for port_name, port in ports
            ],
        },
    }
