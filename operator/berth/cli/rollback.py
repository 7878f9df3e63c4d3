"""``berth rollback WORKLOAD --to-revision N [-n NAMESPACE] [--write DIR]``.

A rollback is a promotion of one of the Workload's own older revisions into its own
Environment: a Promotion with ``from`` the Workload's Environment. It moves the
Workload, never data: a resource the older revision does not ask for is released under
the Environment's deletion policy, as if it had been removed from the Workload.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from pathlib import Path

from berth.cli import promoting
from berth.kube import credentials
from berth.kube.client import ApiError

DESCRIPTION = (
    "Roll a Workload back to one of its revisions (kubectl get workloadrevisions -l "
    "berth.dev/workload=WORKLOAD). It moves the Workload, never data: a resource the "
    "revision does not ask for is released under the Environment's deletionPolicy."
)
EXAMPLES = """examples:
  berth rollback checkout --to-revision 3 -n team-a-prod --wait
  berth rollback checkout --to-revision 3 -n team-a-prod --write ./gitops/prod

exit codes: 0 created (with --wait: Succeeded; with --write: written), 1 refused or
Failed (the message says why), 2 bad arguments."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "rollback",
        help="roll a Workload back to one of its revisions",
        description=textwrap.fill(DESCRIPTION, 88),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workload", metavar="WORKLOAD", help="the Workload's name")
    parser.add_argument(
        "--to-revision", type=int, required=True, metavar="N", help="the revision to go back to"
    )
    parser.add_argument(
        "-n", "--namespace", help="the Workload's namespace (default: the context's, else default)"
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        help="write the revision's Workload into this git checkout instead of a Promotion",
    )
    promoting.add_follow_arguments(parser)
    promoting.add_cluster_arguments(parser)


async def _rollback(args: argparse.Namespace) -> int:
    async with promoting.client_for(args) as client:
        namespace = args.namespace or client.credentials.default_namespace or "default"
        current = await promoting.workload(client, namespace, args.workload)
        env_name = (current.get("status") or {}).get("environment") or (
            current.get("spec") or {}
        ).get("environment")
        if not env_name:
            raise promoting.Refused(
                f"Workload {namespace}/{args.workload} names no Environment yet (status."
                "environment); wait until the operator has seen it"
            )
        env = await promoting.environment(client, env_name)
        revision = await promoting.revision_of(client, current, args.to_revision)
        if args.write is not None:
            cluster = await promoting.cluster_provisioners(client)
            written = promoting.write_pinned(args.write, current, revision, env, env.name, cluster)
            print(f"wrote {written.path}: Workload {args.workload} at revision {written.revision}")
            print("commit and push it: the commit is the rollback")
            return 0
        manifest = promoting.promotion_manifest(
            args.workload, namespace, env.name, env.name, args.to_revision
        )
        created = await client.create(manifest)
        name = created["metadata"]["name"]
        print(f"promotion.berth.dev/{name} created in namespace {namespace} (rollback)")
        if not args.wait:
            return 0
        return await promoting.follow(client, namespace, name, args.timeout, print)


def main(args: argparse.Namespace) -> int:
    if args.to_revision < 1:
        print("berth rollback: --to-revision is a revision number, 1 or more", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_rollback(args))
    except (promoting.Refused, credentials.CredentialsError) as err:
        print(f"berth rollback: {err}", file=sys.stderr)
        return 1
    except ApiError as err:
        print(f"berth rollback: the API server refused: {err.message}", file=sys.stderr)
        return 1
