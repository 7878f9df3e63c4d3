"""The operator's settings, declared once: each field is also a `berth run` flag.

A field made with :func:`setting` names its flag, its environment variable and its help
text; ``berth.cli.run`` builds the parser and fills this dataclass from those
declarations alone, so a new setting is one field here. A field made with :func:`derived`
has no flag of its own: `berth run` computes it. :func:`flags` lists the declarations.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

_FLAG = "berth.flag"
_DERIVED = "berth.derived"


@dataclass(frozen=True)
class Flag:
    """How a setting is given to `berth run`: the flag, and the variable behind it."""

    name: str
    """The OperatorConfig field."""
    flag: str
    """``--workers``."""
    env: str
    """``BERTH_WORKERS``: the flag's default when set."""
    help: str
    """Help text; ``{env}`` stands for the variable's name."""
    default: Any
    """The field's default: what the setting is when neither the flag nor the variable is."""
    type: type[Any] | None
    """int or float converts the text given; bool makes a switch (the variable: 1 or
    true); None keeps the text as it is."""
    choices: tuple[str, ...] | None
    optional: bool
    """Unset by default (the help shows None): the field keeps its default."""
    repeatable: bool
    """Given once per value; the variable holds the values comma-separated."""
    fallback_env: tuple[str, ...]
    """Variables read in turn when ``env`` is unset or empty (``POD_NAMESPACE``)."""


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    env: str | None = None,
    choices: tuple[str, ...] | None = None,
    optional: bool = False,
    repeatable: bool = False,
    fallback_env: tuple[str, ...] = (),
) -> Any:
    """A field that is a `berth run` flag: ``--<field-name>`` and ``BERTH_<FIELD_NAME>``
    unless named otherwise. A bool field is a switch, off by default."""
    metadata = {
        _FLAG: {
            "flag": flag,
            "env": env,
            "help": help,
            "choices": choices,
            "optional": optional or repeatable,
            "repeatable": repeatable,
            "fallback_env": fallback_env,
        }
    }
    return dataclasses.field(default=default, metadata=metadata)


def derived(default: Any, how: str) -> Any:
    """A field `berth run` computes (``how`` says from what) rather than reads from a flag."""
    return dataclasses.field(default=default, metadata={_DERIVED: how})


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's settings. A new one is one field: ``name: int = setting(default,
    "help ({env})")`` gives `berth run` ``--name`` and ``BERTH_NAME``; add its row to the
    table in docs/operations/configuration.md and, if the chart sets it, a key under
    ``operator:`` in values.yaml (tests/unit/test_cli_settings.py checks all three)."""

    kubeconfig: str | None = setting(
        None,
        "kubeconfig to use ({env}); in a Pod, the ServiceAccount is used",
        env="KUBECONFIG",
        optional=True,
    )
    context: str | None = setting(
        None, "kubeconfig context ({env}); default: the current one", optional=True
    )
    namespaces: tuple[str, ...] = setting(  # empty: the whole cluster
        (),
        "watch only this namespace (repeatable; {env}, comma-separated); "
        "default: the whole cluster",
        flag="--namespace",
        repeatable=True,
    )
    workers: int = setting(
        32,
        "reconciles that may run at once ({env}); the API load is bounded "
        "by the API server's answers, not by this",
    )
    # Ceilings a user may set on the API load (0: none). Below them, the requests in
    # flight follow the API server: more while it answers fast, fewer on 429s, 5xx or
    # slow answers (berth.kube.limiter).
    max_inflight: int = setting(
        0,
        "ceiling on API requests in flight, 0 for none ({env}); below "
        "it, the number follows the API server: fewer on 429s, 5xx and slow answers",
    )
    qps: float = setting(0.0, "ceiling on API requests per second, 0 for none ({env})")
    burst: int = setting(40, "API requests allowed in a burst under a --qps ceiling ({env})")
    resync_seconds: float = setting(
        300.0,
        "seconds between full re-reconciles of every object ({env})",
        flag="--resync",
    )
    metrics_port: int = setting(
        8080, "port of the Prometheus /metrics endpoint, 0 to disable ({env})"
    )
    health_port: int = setting(8081, "port of the /healthz liveness endpoint, 0 to disable ({env})")
    backstage_port: int = setting(
        0,
        "port of the read-only Backstage catalog location (/backstage/catalog-info.yaml, "
        "berth.handlers.backstage), 0 to disable ({env})",
    )
    standalone: bool = derived(True, "no --peering given")
    peering: str = setting(
        "berth",
        "coordinate replicas through this kopf peering object ({env}); default: standalone",
        optional=True,
    )
    priority: int = setting(0, "this replica's peering priority; the highest one works ({env})")
    peering_lifetime: int = setting(
        60,
        "seconds a replica's peering keep-alive stays valid; a standby takes over at "
        "most this long after the working replica died ({env})",
    )
    # this replica's identity in the peering (kopf's, passed to it)
    identity: str = derived("", "the Pod's name (POD_ID), else host, pid and a nonce")
    # Sharding (coordination/sharding.py): 0 or 1 is off. N > 1 splits the Workloads into N
    # shards by namespace, each reconciled by the replica holding its Lease.
    shards: int = setting(
        0,
        "split the Workloads into this many shards by namespace, each reconciled by "
        "the one replica holding its Lease; run several replicas with the same value. "
        "0 or 1: off ({env})",
    )
    shard_namespace: str = setting(  # where the shard and member Leases live
        "default",
        "namespace of the shards' Leases ({env}); default: the "
        "operator Pod's (POD_NAMESPACE), else 'default'",
        fallback_env=("POD_NAMESPACE",),
    )
    shard_lease_seconds: float = setting(  # a dead replica's shards move after this
        15.0,
        "seconds a shard's Lease lasts unrenewed: a dead replica's shards are taken "
        "over after this; a replica stops writing for a shard 2/3 of it after its last "
        "renewal ({env})",
        flag="--shard-lease-duration",
        env="BERTH_SHARD_LEASE_DURATION",
    )
    no_admission_bindings: bool = setting(
        False,
        "bind no admission policy to Environments: the chart's admission policies "
        "(admission/) are not installed ({env})",
    )
    log_writes: bool = setting(
        False,
        "with --shards: log every write of a reconcile (object, resourceVersion, "
        "shard, replica) on the berth.writes logger ({env})",
    )
    log_format: str = setting(
        "text",
        "log as human-readable text or as JSON lines ({env})",
        choices=("text", "json"),
    )
    log_level: str = setting(
        "INFO", "log level ({env})", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )

    @property
    def sharded(self) -> bool:
        return self.shards > 1


def flags(settings: type[Any] = OperatorConfig) -> list[Flag]:
    """The fields of ``settings`` (OperatorConfig) that are flags, in the dataclass's order."""
    hints = typing.get_type_hints(settings)
    found = []
    for field in dataclasses.fields(settings):
        declared = field.metadata.get(_FLAG)
        if declared is None:
            continue
        hint = hints[field.name]
        if hint is bool and field.default is not False:
            raise TypeError(f"{field.name}: a switch is off by default")
        found.append(
            Flag(
                name=field.name,
                flag=declared["flag"] or "--" + field.name.replace("_", "-"),
                env=declared["env"] or "BERTH_" + field.name.upper(),
                help=declared["help"],
                default=field.default,
                type=hint if hint in (int, float, bool) else None,
                choices=declared["choices"],
                optional=declared["optional"],
                repeatable=declared["repeatable"],
                fallback_env=declared["fallback_env"],
            )
        )
    return found


def derived_settings() -> dict[str, str]:
    """The settings `berth run` computes: field name -> from what."""
    return {
        field.name: field.metadata[_DERIVED]
        for field in dataclasses.fields(OperatorConfig)
        if _DERIVED in field.metadata
    }
