"""What `berth promote` and `berth rollback` share: reading the cluster with the user's
own credentials, creating a Promotion and following it, and writing a pinned Workload
into a git checkout (``--write``) for an Environment that is synced from git.

The checks made before ``--write`` writes are the operator's own (``berth.promotion``):
a file the operator's Promotion would refuse is not written either.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from berth.api import API_VERSION, ClusterProvisioner, Environment
from berth.cli.output import to_yaml
from berth.kube import credentials
from berth.kube.client import KubeClient
from berth.names import PROMOTED_REVISION_ANNOTATION, WORKLOAD_LABEL
from berth.problems import Problem
from berth.promotion.preflight import path_problem, preflight, problems_message, target_spec
from berth.promotion.progress import source_revision

POLL_SECONDS = 1.0


class Refused(Exception):
    """The command cannot do what was asked; the message says why and what to do."""


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the Promotion Succeeded (exit 0) or Failed (exit 1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long --wait waits (default: 600; exit 1 when it runs out)",
    )


def client_for(args: argparse.Namespace) -> KubeClient:
    kubeconfig, context = args.kubeconfig, args.context
    return KubeClient(lambda: credentials.load(kubeconfig, context), timeout=15.0)


async def environment(client: KubeClient, name: str) -> Environment:
    body = await client.get(API_VERSION, "Environment", name)
    if body is None:
        raise Refused(f"Environment {name!r} does not exist (kubectl get environments)")
    try:
        return Environment.model_validate(body)
    except ValidationError as err:
        raise Refused(f"Environment {name!r} is not valid: {err.errors()[0]['msg']}") from None


async def workload(client: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    body = await client.get(API_VERSION, "Workload", name, namespace)
    if body is None:
        raise Refused(f"Workload {name!r} does not exist in namespace {namespace!r}")
    return body


async def revision_of(
    client: KubeClient, source: dict[str, Any], number: int | None
) -> dict[str, Any]:
    """The revision to promote: number ``number`` of the Workload, else its current one."""
    meta = source["metadata"]
    revisions = await client.list(
        API_VERSION,
        "WorkloadRevision",
        meta["namespace"],
        label_selector=f"{WORKLOAD_LABEL}={meta['name']}",
    )
    spec = {} if number is None else {"revision": number}
    found = source_revision(spec, source, revisions)
    if isinstance(found, Problem):
        raise Refused(found.message)
    return dict(found)


def promotion_manifest(
    workload_name: str, namespace: str, source: str, target: str, revision: int | None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"workload": workload_name, "from": source, "to": target}
    if revision is not None:
        spec["revision"] = revision
    return {
        "apiVersion": API_VERSION,
        "kind": "Promotion",
        "metadata": {"generateName": f"{workload_name}-", "namespace": namespace},
        "spec": spec,
    }


def _said(body: dict[str, Any]) -> tuple[str, str]:
    status = body.get("status") or {}
    conditions = status.get("conditions") or []
    ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if not ready:
        return "Pending", "waiting for the operator to look at it"
    return str(status.get("phase") or "Pending"), f"{ready.get('reason')}: {ready.get('message')}"


async def _until_done(
    client: KubeClient, namespace: str, name: str, say: Callable[[str], None]
) -> int:
    last = ""
    while True:
        body = await client.get(API_VERSION, "Promotion", name, namespace)
        if body is None:
            say(f"promotion {namespace}/{name} was deleted")
            return 1
        phase, said = _said(body)
        if f"{phase} {said}" != last:
            last = f"{phase} {said}"
            say(f"{phase}: {said}")
        if phase in ("Succeeded", "Failed"):
            return 0 if phase == "Succeeded" else 1
        await asyncio.sleep(POLL_SECONDS)


async def follow(
    client: KubeClient, namespace: str, name: str, seconds: float, say: Callable[[str], None]
) -> int:
    """Wait until the Promotion ends; 0 when it Succeeded, 1 otherwise."""
    try:
        async with asyncio.timeout(seconds):
            return await _until_done(client, namespace, name, say)
    except TimeoutError:
        say(f"gave up waiting after {seconds:g}s; the Promotion goes on")
        return 1


@dataclass(frozen=True)
class Written:
    path: Path
    revision: str
    images: list[str]


def _documents(path: Path) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def workload_file(directory: Path, name: str, namespace: str) -> tuple[Path, dict[str, Any]]:
    """The file in ``directory`` (searched recursively) that holds Workload ``name`` of
    ``namespace`` (or of no namespace), and that document; a new <name>.yaml if none."""
    found: list[tuple[Path, dict[str, Any], int]] = []
    for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
        docs = _documents(path)
        for doc in docs:
            meta = (doc.get("metadata") or {}) if isinstance(doc, dict) else {}
            if (
                isinstance(doc, dict)
                and doc.get("kind") == "Workload"
                and meta.get("name") == name
                and meta.get("namespace") in (None, namespace)
            ):
                found.append((path, doc, len(docs)))
    if not found:
        return directory / f"{name}.yaml", {}
    if len(found) > 1:
        listed = ", ".join(str(path) for path, _, _ in found)
        raise Refused(f"Workload {name!r} is in more than one file ({listed}); keep one")
    path, doc, count = found[0]
    if count > 1:
        raise Refused(
            f"{path} holds other objects beside Workload {name!r}; move the Workload into a "
            "file of its own, so that --write can replace it whole"
        )
    return path, doc


async def cluster_provisioners(client: KubeClient) -> list[ClusterProvisioner]:
    return [
        ClusterProvisioner.model_validate(body)
        for body in await client.list(API_VERSION, "ClusterProvisioner")
    ]


def write_pinned(
    directory: Path,
    source: dict[str, Any],
    revision: dict[str, Any],
    target: Environment,
    source_env: str,
    cluster: list[ClusterProvisioner],
) -> Written:
    """Check the target can take the revision, then write it as the target's Workload."""
    problem = path_problem(source_env, target)
    if problem is not None:
        raise Refused(problem.message)
    name = source["metadata"]["name"]
    spec = target_spec(revision["spec"]["template"], target.name, name_environment=False)
    problems = preflight(spec, name, target, cluster)
    if problems:
        raise Refused(problems_message(problems, target.name))
    if not directory.is_dir():
        raise Refused(f"{directory} is not a directory (a git checkout to write into)")
    path, existing = workload_file(directory, name, target.spec.namespace)
    meta = dict(existing.get("metadata") or {})
    meta["name"] = name
    meta.setdefault("namespace", target.spec.namespace)
    revision_ref = f"{revision['metadata']['namespace']}/{revision['metadata']['name']}"
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        PROMOTED_REVISION_ANNOTATION: revision_ref,
    }
    body = {"apiVersion": API_VERSION, "kind": "Workload", "metadata": meta, "spec": spec}
    path.write_text(to_yaml(body), encoding="utf-8")
    images = [str(i.get("pinned")) for i in revision["spec"].get("images") or []]
    return Written(path, revision_ref, images)
