"""``berth admission``: the ValidatingAdmissionPolicies that check Workloads against
their Environment's policy at ``kubectl apply``.

The one writer of ``admission/policies.yaml``: ``make crds`` runs
``berth admission --out admission/``. The policies come from ``berth.render.admission``,
generated from the rules the operator itself runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from berth.cli.loader import InputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admission = sub.add_parser(
        "admission",
        help="print or write the admission policies that check Workloads at kubectl apply",
        description="Print the ValidatingAdmissionPolicies (and their bindings) generated "
        "from the Environment policy's rules, or write them into a directory as "
        "policies.yaml. Apply them after the CRDs; the operator binds the berth-policy-* "
        "ones per Environment; the Helm chart ships them.",
    )
    admission.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the files into DIR instead of printing policies.yaml",
    )


def main(args: argparse.Namespace) -> int:
    from berth.render.admission import admission_files, dump_admission

    if args.out is None:
        sys.stdout.write(dump_admission())
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in admission_files().items():
            path = args.out / name
            if path.exists() and path.read_text(encoding="utf-8") == text:
                print(f"unchanged {path}")
            else:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    except OSError as err:
        raise InputError(f"{args.out}: cannot write: {err.strerror or err}") from None
    return 0
