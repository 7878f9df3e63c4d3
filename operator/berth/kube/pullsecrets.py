"""The image pull Secrets a Workload's Pods pull with: those of the ServiceAccount they
run as (the API server copies them into each Pod). Read by name, each one; a Secret
that cannot be read is passed over — resolving a digest is worth no failure."""

from __future__ import annotations

import logging
from typing import Any

from berth.kube.client import ApiError, KubeClient

log = logging.getLogger("berth")
DEFAULT_SERVICE_ACCOUNT = "default"


async def pull_secrets(
    client: KubeClient, namespace: str, service_account: str = DEFAULT_SERVICE_ACCOUNT
) -> list[dict[str, Any]]:
    """The ServiceAccount's imagePullSecrets, as Secrets (whatever their type: the
    registry's auth takes the docker config ones)."""
    try:
        account = await client.get("v1", "ServiceAccount", service_account, namespace)
    except ApiError as err:
        log.info("ServiceAccount %s/%s unreadable: %s", namespace, service_account, err.reason)
        return []
    found: list[dict[str, Any]] = []
    for ref in (account or {}).get("imagePullSecrets") or []:
        name = ref.get("name")
        if not name:
            continue
        try:
            secret = await client.get("v1", "Secret", str(name), namespace)
        except ApiError as err:
            log.info("pull Secret %s/%s unreadable: %s", namespace, name, err.reason)
            continue
        if secret is not None:
            found.append(secret)
    return found
