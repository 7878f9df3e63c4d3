"""``berth crds``: the CustomResourceDefinitions generated from the API models.

The one writer of CRD files: ``make crds`` runs ``berth crds --out crds/``. The CRDs
themselves, as dicts and as file text, come from ``berth.api.crdgen``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from berth.cli.loader import InputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crds = sub.add_parser(
        "crds",
        help="print or write Berth's CustomResourceDefinitions",
        description="Print the CRDs generated from the API models, or write them into a "
        "directory as berth.dev_<plural>.yaml.",
    )
    crds.add_argument(
        "--out", type=Path, metavar="DIR", help="write the CRDs into DIR instead of stdout"
    )


def write_crds(out: Path) -> None:
    """Write every CRD into ``out`` as berth.dev_<plural>.yaml, saying what changed.

    A file that already holds the exact text is left alone (and its time stamp with it).
    """
    from berth.api.crdgen import build_crds, crd_filename, dump_crd

    crds = build_crds()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for crd in crds:
            path = out / crd_filename(crd)
            text = dump_crd(crd)
            if path.exists() and path.read_text(encoding="utf-8") == text:
                print(f"unchanged {path}")
            else:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    except OSError as err:
        raise InputError(f"{out}: cannot write: {err.strerror or err}") from None


def main(args: argparse.Namespace) -> int:
    if args.out is not None:
        write_crds(args.out)
        return 0
    from berth.api.crdgen import build_crds, dump_crd

    sys.stdout.write("".join(dump_crd(crd) for crd in build_crds()))
    return 0
