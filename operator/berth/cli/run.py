"""``berth run``: the operator.

Its flags are the fields of ``berth.handlers.config.OperatorConfig``: each field declares
its flag, environment variable, default and help there, and this module only turns those
declarations into argparse arguments and the parsed arguments back into the config.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from berth.handlers.config import Flag, OperatorConfig, flags

if TYPE_CHECKING:
    from berth.handlers.context import AfterClaimCreated


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: watch Workloads and Environments and reconcile them. "
        "Every flag can also be set by the environment variable shown.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_flags(run, flags())


def add_flags(parser: argparse.ArgumentParser, declared: list[Flag]) -> None:
    """An argument for each declared setting; a default comes from its variable, if set."""
    for flag in declared:
        parser.add_argument(flag.flag, **_argument(flag))


def _argument(flag: Flag) -> dict[str, Any]:
    shown = flag.help.format(env=flag.env)
    if flag.repeatable:
        # The variable is read after parsing: given flags replace it, not add to it.
        return {"action": "append", "default": None, "help": shown}
    text = os.environ.get(flag.env)
    switch = flag.type is bool  # (a variable: mypy would narrow flag.type to None below)
    if switch:
        return {"action": "store_true", "default": text in ("1", "true"), "help": shown}
    if not text and flag.fallback_env:
        text = next(filter(None, map(os.environ.get, flag.fallback_env)), None)
    default: Any
    if flag.optional:
        default = text or None
    elif text is None:
        default = flag.default
    elif flag.type is None:
        default = text
    else:
        try:
            default = flag.type(text)
        except ValueError:
            # A variable set wrong in a Deployment's env: say which, not a traceback.
            print(
                f"berth: error: {flag.env}={text!r} is not a valid {flag.type.__name__} "
                f"(it sets {flag.flag})",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
    argument: dict[str, Any] = {"default": default, "help": shown}
    if flag.type is not None:
        argument["type"] = flag.type
    if flag.choices is not None:
        argument["choices"] = flag.choices
    return argument


def _dest(flag: Flag) -> str:
    """The attribute argparse stores the flag's value under."""
    return flag.flag.removeprefix("--").replace("-", "_")


def _identity() -> str:
    """This replica's name in a peering: the Pod's (POD_ID), else host, pid and a nonce."""
    import secrets
    import socket

    return os.environ.get("POD_ID") or (
        f"berth@{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
    )


def config_from(args: argparse.Namespace) -> OperatorConfig:
    """The operator's settings from parsed `berth run` arguments and the environment."""
    values: dict[str, Any] = {}
    for flag in flags():
        value = getattr(args, _dest(flag))
        if flag.repeatable:
            value = tuple(value or [v for v in os.environ.get(flag.env, "").split(",") if v])
        if value is not None:  # None: an optional flag not given keeps the field's default
            values[flag.name] = value
    # The derived settings. A replica works alone unless --peering names a peering; an
    # empty name is the default one's.
    values["standalone"] = values.get("peering") is None
    if not values.get("peering"):
        values.pop("peering", None)
    values["identity"] = _identity()
    return OperatorConfig(**values)


def main(args: argparse.Namespace, *, after_claim_created: AfterClaimCreated | None = None) -> int:
    """Run the operator until it is stopped. ``after_claim_created``: a test's hook
    (tests/statuscheck.py); `berth run` itself never sets one."""
    import kopf
    from prometheus_client import start_http_server

    from berth.handlers import kopfpatch, watch  # noqa: F401  (watch registers the handlers)
    from berth.kube import credentials

    config = config_from(args)
    if config.shards < 0 or config.shard_lease_seconds < 3:
        print(
            "berth: --shards must be 0 or more, --shard-lease-duration 3 s or more", file=sys.stderr
        )
        return 2
    if config.sharded and not config.standalone:
        print(
            "berth: --shards and --peering exclude each other: with shards, every replica "
            "works (on its own shards); with peering, one works and the others wait",
            file=sys.stderr,
        )
        return 2
    try:
        credentials.load(config.kubeconfig, config.context)
    except credentials.CredentialsError as err:
        print(f"berth: {err}", file=sys.stderr)
        return 2
    kopf.configure(
        debug=config.log_level == "DEBUG",
        verbose=config.log_level in ("DEBUG", "INFO"),
        quiet=config.log_level in ("WARNING", "ERROR"),
        # Text lines carry a timestamp, the logger and the level; JSON carries them as fields.
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(config.log_level)
    if config.log_level != "DEBUG":
        # kopf says "Handler ... succeeded" for every watch event of every object: at
        # thousands of objects that is most of the log and none of the news.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if config.metrics_port:
        start_http_server(config.metrics_port)
    liveness = f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
    # A restart into thousands of objects: linear in them, not quadratic.
    kopfpatch.install()
    asyncio.run(
        kopf.operator(
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            standalone=config.standalone,
            # Naming a peering makes kopf require it; standalone names none.
            peering_name=None if config.standalone else config.peering,
            priority=config.priority,
            identity=config.identity,  # type: ignore[arg-type]  # kopf: NewType of str
            liveness_endpoint=liveness,
            memo=kopf.Memo(config=config, after_claim_created=after_claim_created),
        )
    )
    return 0
