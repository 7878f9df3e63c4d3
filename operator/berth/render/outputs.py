"""Resource outputs as render sees them.

The caller (provisioning) passes ``outputs: {resource name: {output key: value}}``. A value
is either a plain string, which may appear in manifests, or a ``SecretRef``: a secret
output whose value render never sees and never writes; it is referenced from a Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SecretRef:
    """A secret output: key ``key`` of the Secret ``secret_name`` in the Workload's namespace."""

    secret_name: str
    key: str


OutputValue = str | SecretRef
Outputs = Mapping[str, Mapping[str, OutputValue]]
