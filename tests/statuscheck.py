"""Every status the operator writes is what its CRD declares.

The API server prunes a status field that the CRD's schema does not declare, without a
word: a typo in a status key would be lost without a trace. The status models in
``berth.api`` (the source of the CRDs) forbid unknown fields; this module checks status
bodies against them, and watches the operator's own status writes during tests at the one
door every request goes through (``KubeClient.request``):

- in-process (unit and integration tests): ``watch()``, installed for every test by the
  ``_status_as_declared`` fixture in tests/conftest.py;
- every e2e operator subprocess runs as ``python -m tests.statuscheck run ...`` (the same
  arguments as ``python -m berth``), which records each status write that does not fit in
  the file named by ``BERTH_TEST_STATUS_VIOLATIONS`` (``subprocess_env()`` makes one);
  the same fixture fails the test during which one appears (``new_violations()``).

The check never changes what is written: the request goes out as the operator made it.

It also gives the operator the test-only crash point, which production code does not
carry: with ``BERTH_TEST_EXIT_AFTER_CLAIM=N`` the process exits at once (status 99) right
after it has created its N-th claim, before any status lists it — the crash window
tests/e2e/test_claims_reliability.py and hack/chaos.py need (``crash_after_claims``,
installed as the Runtime's ``after_claim_created`` hook).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from berth.api import ClusterProvisionerStatus, EnvironmentStatus, WorkloadStatus
from berth.kube.client import KubeClient
from berth.provision import ClaimRef

STATUS_MODELS: dict[str, type[BaseModel]] = {
    "Workload": WorkloadStatus,
    "Environment": EnvironmentStatus,
    "ClusterProvisioner": ClusterProvisionerStatus,
}
# Declared in the status schema, but kopf's to write (its progress storage), never ours.
FOREIGN_FIELDS = ("kopf",)
VIOLATIONS_ENV = "BERTH_TEST_STATUS_VIOLATIONS"
EXIT_AFTER_CLAIM_ENV = "BERTH_TEST_EXIT_AFTER_CLAIM"
WRITE_METHODS = frozenset({"PATCH", "PUT", "POST"})


def status_errors(kind: str, status: Mapping[str, Any]) -> list[str]:
    """What in ``status`` (as written, camelCase) the CRD's model of ``kind`` does not
    declare, or takes only after a conversion; [] when all of it fits."""
    model = STATUS_MODELS[kind]
    errors = [
        f"{field}: not ours to write (kopf's bookkeeping)"
        for field in FOREIGN_FIELDS
        if field in status
    ]
    ours = {k: v for k, v in status.items() if k not in FOREIGN_FIELDS}
    try:
        # Strict and by alias only: "1" for an integer, or observed_generation for
        # observedGeneration, would pass a lax parse and still not be what the API keeps.
        parsed = model.model_validate(ours, strict=True, by_alias=True, by_name=False)
    except ValidationError as err:
        for item in err.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "status"
            errors.append(f"{where}: {item['msg']} (written: {item['input']!r})")
        return errors
    read_back = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if read_back != ours:
        errors.append(f"reads back otherwise than written: {read_back!r} != {ours!r}")
    return errors


def assert_status_fits(kind: str, status: Mapping[str, Any]) -> None:
    """Fail naming every field of ``status`` the CRD's model does not declare."""
    errors = status_errors(kind, status)
    assert not errors, f"this {kind} status does not fit the CRD's model:\n" + "\n".join(errors)


def status_write_errors(method: str, path: str, body: Any, kind: str) -> list[str]:
    """The errors of one request, when it writes the status of one of our kinds."""
    if (
        method not in WRITE_METHODS
        or kind not in STATUS_MODELS
        or not path.rstrip("/").endswith("/status")
        or not isinstance(body, Mapping)
        or not isinstance(body.get("status"), Mapping)
    ):
        return []
    return [f"{method} {path}: {error}" for error in status_errors(kind, body["status"])]


def watch(record: Callable[[str], None]) -> Callable[[], None]:
    """Check every status write through ``KubeClient.request`` from now on, calling
    ``record`` with each error; returns the function that stops watching."""
    original = KubeClient.request

    async def request(
        self: KubeClient, method: str, path: str, *, body: Any = None, kind: str = "", **rest: Any
    ) -> Any:
        for error in status_write_errors(method, path, body, kind):
            record(error)
        return await original(self, method, path, body=body, kind=kind, **rest)

    KubeClient.request = request  # type: ignore[method-assign]

    def stop() -> None:
        KubeClient.request = original  # type: ignore[method-assign]

    return stop


# Files the operator subprocesses record to, and how many lines of each were reported.
_files: dict[Path, int] = {}


def subprocess_env(path: Path) -> dict[str, str]:
    """The environment that makes ``python -m tests.statuscheck`` record to ``path``
    (emptied now); ``new_violations()`` reads it from now on."""
    path.write_text("")
    _files[path] = 0
    return {VIOLATIONS_ENV: str(path)}


def new_violations() -> list[str]:
    """What the operator subprocesses recorded since the last call."""
    found = []
    for path, seen in list(_files.items()):
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        found += [f"{path.name}: {line}" for line in lines[seen:]]
        _files[path] = len(lines)
    return found


def _record_to_file(path: str) -> Callable[[str], None]:
    log = logging.getLogger("berth")

    def record(error: str) -> None:
        log.error("status check (test-only): %s", error)
        with open(path, "a", encoding="utf-8") as out:
            out.write(error.replace("\n", " ") + "\n")

    return record


def crash_after_claims(
    limit: int, exit: Callable[[int], object] = os._exit
) -> Callable[[ClaimRef], None]:
    """An ``after_claim_created`` hook that ends the process (status 99) right after the
    ``limit``-th claim it is told of."""
    created = 0

    def after_claim_created(claim: ClaimRef) -> None:
        nonlocal created
        created += 1
        if created >= limit:
            logging.getLogger("berth").warning(
                "%s=%d: exiting right after creating claim %s (test-only crash point)",
                EXIT_AFTER_CLAIM_ENV,
                limit,
                claim.name,
            )
            logging.shutdown()
            exit(99)

    return after_claim_created


def _run(argv: list[str]) -> int:
    """The `berth` command; `run` with the crash point when the environment asks."""
    from berth.cli import build_parser, run
    from berth.cli import main as berth_main

    limit = os.environ.get(EXIT_AFTER_CLAIM_ENV)
    args = build_parser().parse_args(argv)
    if args.command != "run" or not limit:
        return berth_main(argv)
    return run.main(args, after_claim_created=crash_after_claims(int(limit)))


def main() -> int:
    """``python -m berth`` with every status write checked (test-only)."""
    path = os.environ.get(VIOLATIONS_ENV)
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(
            f"python -m tests.statuscheck: `python -m berth` with every status write checked "
            f"against the CRD's model; violations go to the file ${VIOLATIONS_ENV} names.\n"
        )
        path = path or os.devnull
    if not path:
        print(f"{VIOLATIONS_ENV} must name the file that collects violations", file=sys.stderr)
        return 2
    watch(_record_to_file(path))
    return _run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
