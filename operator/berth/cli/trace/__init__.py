"""``berth trace``: one Workload, or an Environment with all its Workloads, as a tree.

Each line is an object (or a Score resource, or the provisioner chosen for it) with its
ready state; the first failure — what to read first — is marked. Read-only, with the
user's own kubeconfig, context and rights: what they may not read shows as ``?``
(Forbidden) in the tree. Also a kubectl plugin: ``kubectl berth trace ...`` runs the
``kubectl-berth`` executable, which is this same command line.

The parts: ``plan`` (what to read), ``fetch`` (reading it; the only module here that
talks to the API server), ``state``, ``nodes``, ``resources`` and ``tree`` (the tree,
pure), ``view`` (the table and the JSON, pure).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
import textwrap
from dataclasses import astuple
from typing import Any, TextIO

from berth.cli.trace.fetch import (
    TargetError,
    environment_snapshot,
    refuse_writes,
    workload_snapshot,
)
from berth.cli.trace.model import Trace
from berth.cli.trace.tree import environment_trace, workload_trace
from berth.cli.trace.view import ASCII, UNICODE, Glyphs, render_text, trace_json
from berth.kube import credentials
from berth.kube.client import ApiError, KubeClient

KINDS = {
    "workload": "Workload",
    "workloads": "Workload",
    "wl": "Workload",
    "environment": "Environment",
    "environments": "Environment",
    "env": "Environment",
}
DESCRIPTION = (
    "Show one Workload, or an Environment with all its Workloads, as a tree: its "
    "Environment, its resources (the provisioner chosen and why, claims, connection "
    "Secrets by name), its Deployment, ReplicaSets, Pods, Service and ConfigMaps, each "
    "with its ready state. Reads only, with your kubeconfig, context and rights."
)
EXAMPLES = """examples:
  berth trace workload checkout -n team-a-dev
  berth trace wl/checkout -n team-a-dev -o json
  berth trace env/team-a-dev
  kubectl berth trace wl/checkout          (the same, as a kubectl plugin)

READY is True, False, - (no readiness of its own: a ConfigMap) or ? (could not be read).
The line marked » is the first failure: read it first. Exit code 0 once traced, whatever
the tree says (scripts read firstFailure in -o json); 1 when the target cannot be read."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "trace",
        help="show a Workload or an Environment as a tree, its first failure marked",
        description=textwrap.fill(DESCRIPTION, 88),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        metavar="TYPE[/NAME]",
        help="workload (wl) or environment (env), with its name: wl/checkout",
    )
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help="the name, when TYPE is given alone"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        help="the Workload's namespace (default: the context's, else 'default')",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("tree", "json"),
        default="tree",
        help="tree (default): a table for people; json: a stable schema for scripts",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the states: auto (default) only on a terminal and without NO_COLOR",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


class UsageError(Exception):
    pass


def parse_target(target: str, name: str | None) -> tuple[str, str]:
    """``TYPE/NAME`` or ``TYPE NAME`` -> (Kind, name)."""
    kind = target
    if "/" in target and name is None:
        kind, _, name = target.partition("/")
    elif "/" in target or name is None:
        raise UsageError("expected TYPE/NAME or TYPE NAME, for example wl/checkout")
    if kind.lower() not in KINDS:
        raise UsageError(f"unknown type {kind!r}: use workload (wl) or environment (env)")
    if not name:
        raise UsageError("a name is required, for example wl/checkout")
    return KINDS[kind.lower()], name


def use_colour(choice: str, stream: TextIO, environ: dict[str, str]) -> bool:
    """Colour when asked to, or on a terminal unless NO_COLOR is set (no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not environ.get("NO_COLOR")


def glyphs_for(stream: TextIO) -> Glyphs:
    """Box-drawing lines where the output can carry them."""
    try:
        "".join(astuple(UNICODE)).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


async def _trace(
    args: argparse.Namespace, kind: str, name: str
) -> tuple[Trace, str | None, datetime.datetime]:
    kubeconfig, context = args.kubeconfig, args.context
    client = KubeClient(
        lambda: credentials.load(kubeconfig, context), before_write=refuse_writes, timeout=15.0
    )
    now = datetime.datetime.now(datetime.UTC)
    async with client:
        if kind == "Environment":
            snap, env = await environment_snapshot(client, name, now)
            return environment_trace(snap, env), snap.namespace or None, now
        namespace = (
            args.namespace
            or client.credentials.default_namespace
            or credentials.context_namespace(kubeconfig, context)
            or "default"
        )
        snap, workload = await workload_snapshot(client, namespace, name, now)
        return workload_trace(snap, workload), namespace, now


def main(args: argparse.Namespace) -> int:
    try:
        kind, name = parse_target(args.target, args.name)
        trace, namespace, now = asyncio.run(_trace(args, kind, name))
    except UsageError as err:
        print(f"berth trace: {err}", file=sys.stderr)
        return 2
    except (TargetError, credentials.CredentialsError) as err:
        print(f"berth trace: {err}", file=sys.stderr)
        return 1
    except ApiError as err:  # the API server cannot be reached or keeps failing
        print(f"berth trace: {err.message}", file=sys.stderr)
        return 1
    out: Any = sys.stdout
    if args.output == "json":
        out.write(json.dumps(trace_json(trace), indent=2) + "\n")
        return 0
    colour = use_colour(args.color, out, dict(os.environ))
    out.write(
        render_text(trace, namespace=namespace, now=now, colour=colour, glyphs=glyphs_for(out))
    )
    return 0
