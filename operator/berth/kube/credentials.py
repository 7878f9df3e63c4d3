"""Where the API server is and how to prove who we are — read like kubectl reads it.

In a Pod: the mounted ServiceAccount. Elsewhere: ``KUBECONFIG`` or ``~/.kube/config``
and its current context (or the one asked for), including exec plugins, through the
official client library's loader. kopf and our own client share the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class CredentialsError(RuntimeError):
    """No usable cluster credentials; the message says where we looked."""


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_path: str | None = None
    verify_tls: bool = True
    token: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    default_namespace: str | None = None


def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Load credentials; an explicit kubeconfig wins over the in-cluster account."""
    from kubernetes import config as k8s_config
    from kubernetes.client import Configuration

    cfg = Configuration()
    in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=cfg
            )
    except Exception as err:  # the loader raises several unrelated types
        where = (
            "the in-cluster ServiceAccount"
            if in_cluster
            else (kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
        )
        raise CredentialsError(f"cannot load Kubernetes credentials from {where}: {err}") from err

    token = None
    # The library keeps a token under "BearerToken" (ServiceAccounts, token kubeconfigs,
    # exec plugins) or, in older versions, under "authorization"; either may carry its
    # scheme in the value ("Bearer x", "Basic x" for a kubeconfig's username and
    # password) or in api_key_prefix.
    api_key = cfg.api_key or {}
    for slot in ("BearerToken", "authorization"):
        value = str(api_key.get(slot) or "").strip()
        if not value:
            continue
        if " " in value:
            scheme, token = value.split(" ", 1)
        else:
            scheme, token = (cfg.api_key_prefix or {}).get(slot) or "Bearer", value
        if scheme.lower() != "bearer":
            raise CredentialsError(
                f"unsupported authorization scheme {scheme!r}: Berth authenticates with a"
                " bearer token or a client certificate"
            )
        break
    namespace = None
    if in_cluster and (SERVICE_ACCOUNT_DIR / "namespace").exists():
        namespace = (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    return Credentials(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        verify_tls=bool(cfg.verify_ssl),
        token=token,
        cert_path=cfg.cert_file,
        key_path=cfg.key_file,
        default_namespace=namespace,
    )


def context_namespace(kubeconfig: str | None = None, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's context (the current one, or the one named) sets,
    as kubectl reads it; None when it sets none or there is no kubeconfig to read."""
    from kubernetes import config as k8s_config

    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except Exception:  # no kubeconfig: load() says so, with where it looked
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None
