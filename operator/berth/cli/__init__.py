"""The `berth` command.

``berth run`` runs the operator (``berth.cli.run``). The other commands work offline, on
files:

- ``berth render -f workload.yaml -e environment.yaml`` prints the manifests the operator
  would apply, through the same code path (the pydantic models, then
  ``berth.render.render_workload``) (``berth.cli.render``);
- ``berth import score.yaml`` turns a Score file into a self-contained Workload
  (``berth.cli.score_import``);
- ``berth crds`` prints (or writes) the CustomResourceDefinitions (``berth.cli.crds``);
- ``berth admission`` prints (or writes) the admission policies that check Workloads
  against their Environment's policy (``berth.cli.admission``);
- ``berth docs-api`` writes the API reference from the CRDs (``berth.cli.docs_api``).

``berth trace`` reads a cluster, with the user's own credentials, and never writes: a
Workload or an Environment as a tree, its first failure marked (``berth.cli.trace``).
Installed as ``kubectl-berth`` too, it is a kubectl plugin: ``kubectl berth trace ...``.

``berth promote`` and ``berth rollback`` work on the cluster, with the user's own
kubeconfig: they create a Promotion, or write a pinned Workload into a git checkout
(``berth.cli.promote``, ``berth.cli.rollback``, sharing ``berth.cli.promoting``).

Bad input is reported as ``file:line: path.to.field: what is wrong`` on stderr, with exit
code 1 (``berth.cli.loader`` reads YAML with line numbers, ``berth.cli.checks`` turns
validation errors into those lines).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from berth import __version__
from berth.cli import (
    admission,
    crds,
    docs_api,
    promote,
    render,
    rollback,
    run,
    score_import,
    trace,
)
from berth.cli.loader import InputError

Command = Callable[[argparse.Namespace], int]

# name -> (adds its parser, runs it), in the order `berth --help` lists them.
COMMANDS: dict[
    str, tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], Command]
] = {
    "run": (run.add_parser, run.main),
    "render": (render.add_parser, render.main),
    "import": (score_import.add_parser, score_import.main),
    "crds": (crds.add_parser, crds.main),
    "admission": (admission.add_parser, admission.main),
    "docs-api": (docs_api.add_parser, docs_api.main),
    "trace": (trace.add_parser, trace.main),
    "promote": (promote.add_parser, promote.main),
    "rollback": (rollback.add_parser, rollback.main),
}
# Invoked as this, the command is kubectl's plugin ``kubectl berth``.
KUBECTL_PLUGIN = "kubectl-berth"


def build_parser(prog: str = "berth") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Berth: Score-compatible Workloads in platform-owned Environments.",
    )
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser, _ in COMMANDS.values():
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    parser = build_parser("kubectl berth" if invoked == KUBECTL_PLUGIN else "berth")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _, command = COMMANDS[args.command]
    try:
        return command(args)
    except InputError as err:  # bad input to an offline command
        for line in err.lines:
            print(line, file=sys.stderr)
        return 1
