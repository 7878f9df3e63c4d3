"""``berth promote WORKLOAD --from ENV --to ENV [--revision N] [--write DIR]``.

Without ``--write``: creates a Promotion in the target Environment's namespace; the
operator checks it and applies it (``--wait`` follows it to its end). With ``--write``:
for a target synced from git, writes the revision's pinned Workload into the checkout
DIR instead — after the same checks — for you to commit; the commit is the promotion.
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
    "Promote a Workload: make the Workload of the same name in Environment --to equal to a "
    "revision of it in Environment --from (its current one, or --revision N), every image "
    "pinned by digest. The operator checks first that the target can take it (policy, "
    "provisioners, the pipeline, approval) and leaves the target untouched when it cannot."
)
EXAMPLES = """examples:
  berth promote checkout --from team-a-dev --to team-a-staging --wait
  berth promote checkout --from team-a-staging --to team-a-prod --revision 4
  berth promote checkout --from team-a-staging --to team-a-prod --write ./gitops/prod

exit codes: 0 created (with --wait: Succeeded; with --write: written), 1 refused or
Failed (the message says why), 2 bad arguments."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "promote",
        help="promote a Workload's revision from one Environment to the next",
        description=textwrap.fill(DESCRIPTION, 88),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workload", metavar="WORKLOAD", help="the Workload's name")
    parser.add_argument("--from", dest="source", required=True, metavar="ENV", help="source")
    parser.add_argument("--to", dest="target", required=True, metavar="ENV", help="target")
    parser.add_argument(
        "--revision", type=int, metavar="N", help="the revision (default: the current one)"
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        help="write the pinned Workload into this git checkout instead of creating a Promotion",
    )
    promoting.add_follow_arguments(parser)
    promoting.add_cluster_arguments(parser)


async def _write(args: argparse.Namespace) -> int:
    async with promoting.client_for(args) as client:
        source_env = await promoting.environment(client, args.source)
        target = await promoting.environment(client, args.target)
        source = await promoting.workload(client, source_env.spec.namespace, args.workload)
        revision = await promoting.revision_of(client, source, args.revision)
        cluster = await promoting.cluster_provisioners(client)
    written = promoting.write_pinned(args.write, source, revision, target, source_env.name, cluster)
    print(f"wrote {written.path}: Workload {args.workload} at revision {written.revision}")
    for image in written.images:
        print(f"  {image}")
    print("commit and push it: the commit is the promotion")
    return 0


async def _create(args: argparse.Namespace) -> int:
    async with promoting.client_for(args) as client:
        target = await promoting.environment(client, args.target)
        await promoting.environment(client, args.source)
        namespace = target.spec.namespace
        manifest = promoting.promotion_manifest(
            args.workload, namespace, args.source, args.target, args.revision
        )
        created = await client.create(manifest)
        name = created["metadata"]["name"]
        print(f"promotion.berth.dev/{name} created in namespace {namespace}")
        if not args.wait:
            return 0
        return await promoting.follow(client, namespace, name, args.timeout, print)


def main(args: argparse.Namespace) -> int:
    if args.revision is not None and args.revision < 1:
        print("berth promote: --revision is a revision number, 1 or more", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_write(args) if args.write is not None else _create(args))
    except promoting.Refused as err:
        print(f"berth promote: {err}", file=sys.stderr)
        return 1
    except credentials.CredentialsError as err:
        print(f"berth promote: {err}", file=sys.stderr)
        return 1
    except ApiError as err:
        print(f"berth promote: the API server refused: {err.message}", file=sys.stderr)
        return 1
