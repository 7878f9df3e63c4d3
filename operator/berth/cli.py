"""The `berth` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from berth import __version__


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BERTH_{name}", default)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: watch Workloads and Environments and reconcile them. "
        "Every flag can also be set by the environment variable shown.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig to use (KUBECONFIG); in a Pod, the ServiceAccount is used",
    )
    run.add_argument(
        "--context",
        default=_env("CONTEXT", "") or None,
        help="kubeconfig context (BERTH_CONTEXT); default: the current one",
    )
    run.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="watch only this namespace (repeatable; BERTH_NAMESPACES, comma-separated); "
        "default: the whole cluster",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=int(_env("WORKERS", "4")),
        help="reconciles that may run at once (BERTH_WORKERS)",
    )
    run.add_argument(
        "--qps",
        type=float,
        default=float(_env("QPS", "20")),
        help="API requests per second, sustained (BERTH_QPS)",
    )
    run.add_argument(
        "--burst",
        type=int,
        default=int(_env("BURST", "40")),
        help="API requests allowed in a burst (BERTH_BURST)",
    )
    run.add_argument(
        "--resync",
        type=float,
        default=float(_env("RESYNC_SECONDS", "300")),
        help="seconds between full re-reconciles of every object (BERTH_RESYNC_SECONDS)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=int(_env("METRICS_PORT", "8080")),
        help="port of the Prometheus /metrics endpoint, 0 to disable (BERTH_METRICS_PORT)",
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=int(_env("HEALTH_PORT", "8081")),
        help="port of the /healthz liveness endpoint, 0 to disable (BERTH_HEALTH_PORT)",
    )
    run.add_argument(
        "--peering",
        default=_env("PEERING", "") or None,
        help="coordinate replicas through this kopf peering object (BERTH_PEERING); "
        "default: standalone",
    )
    run.add_argument(
        "--priority",
        type=int,
        default=int(_env("PRIORITY", "0")),
        help="this replica's peering priority; the highest one works (BERTH_PRIORITY)",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=_env("LOG_FORMAT", "text"),
        help="log as human-readable text or as JSON lines (BERTH_LOG_FORMAT)",
    )
    run.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "INFO"),
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level (BERTH_LOG_LEVEL)",
    )


def _run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from berth.handlers import watch  # noqa: F401  (registers the handlers)
    from berth.handlers.config import OperatorConfig
    from berth.kube import credentials

    namespaces = tuple(args.namespace or [n for n in _env("NAMESPACES", "").split(",") if n])
    config = OperatorConfig(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespaces=namespaces,
        workers=args.workers,
        qps=args.qps,
        burst=args.burst,
        resync_seconds=args.resync,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        standalone=args.peering is None,
        peering=args.peering or "berth",
        priority=args.priority,
        log_format=args.log_format,
        log_level=args.log_level,
    )
    try:
        credentials.load(config.kubeconfig, config.context)
    except credentials.CredentialsError as err:
        print(f"berth: {err}", file=sys.stderr)
        return 2
    kopf.configure(
        debug=args.log_level == "DEBUG",
        verbose=args.log_level in ("DEBUG", "INFO"),
        quiet=args.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger().setLevel(args.log_level)
    if config.metrics_port:
        start_http_server(config.metrics_port)
    liveness = f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=config.standalone,
            # Naming a peering makes kopf require it; standalone names none.
            peering_name=None if config.standalone else config.peering,
            priority=config.priority,
            liveness_endpoint=liveness,
            memo=kopf.Memo(config=config),
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth",
        description="Berth: Score-compatible Workloads in platform-owned Environments.",
    )
    parser.add_argument("--version", action="version", version=f"berth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
