"""The crossplane kind: one namespaced Crossplane claim per resource.

The claim (``apiVersion``/``kind`` from the provisioner) is named after the resource's
identity and lives in the Environment's namespace::

    metadata: {name: <identity>, namespace: <ns>, labels: {...}, annotations: <provisioner's>}
    spec:
      parameters: <provisioner parameters, deep-merged with the Workload's params>
      compositionSelector: {matchLabels: ...}    # or compositionRef: {name: ...}
      writeConnectionSecretToRef: {name: <identity>-conn}

The Workload's own annotations never reach the claim: annotations such as
``crossplane.io/external-name`` or ``crossplane.io/paused`` change what Crossplane does.
"""

from __future__ import annotations

from typing import Any

from berth.api.environment import CrossplaneProvisioner, Provisioner
from berth.provision.identity import connection_secret_name
from berth.provision.model import (
    ClaimRef,
    FromField,
    FromSecret,
    FromValue,
    OutputSource,
    OutputSpec,
    PlanContext,
    ResourcePlan,
    promised_outputs,
)
from berth.provision.params import merge_params


def plan_crossplane(
    context: PlanContext, provisioner: Provisioner, spec: CrossplaneProvisioner
) -> ResourcePlan:
    """The claim of the resource and where its outputs come from; raises ProvisionError."""
    parameters = merge_params(
        spec.parameters,
        context.params,
        spec.allowed_params,
        resource=context.resource,
        provisioner=context.provisioner,
    )
    secret = connection_secret_name(context.identity)
    claim_spec: dict[str, Any] = {"parameters": parameters}
    if spec.composition_selector is not None:
        claim_spec["compositionSelector"] = {
            "matchLabels": dict(spec.composition_selector.match_labels)
        }
    if spec.composition_ref is not None:
        claim_spec["compositionRef"] = {"name": spec.composition_ref.name}
    claim_spec["writeConnectionSecretToRef"] = {"name": secret}
    metadata: dict[str, Any] = {
        "name": context.identity,
        "namespace": context.namespace,
        "labels": context.labels(),
    }
    if spec.annotations:
        metadata["annotations"] = dict(spec.annotations)
    claim = {
        "apiVersion": spec.api_version,
        "kind": spec.kind,
        "metadata": metadata,
        "spec": claim_spec,
    }
    outputs: list[OutputSpec] = []
    names = promised_outputs(
        provisioner.outputs, spec.connection_secret_keys, spec.field_paths, spec.values
    )
    for name in names:
        source: OutputSource
        if spec.field_paths and name in spec.field_paths:
            source = FromField(spec.field_paths[name])
        elif spec.values and name in spec.values:
            source = FromValue(spec.values[name])
        else:
            key = (spec.connection_secret_keys or {}).get(name, name)
            source = FromSecret(secret, key)
        outputs.append(OutputSpec(name, source))
    ref = ClaimRef(spec.api_version, spec.kind, context.identity, context.namespace)
    return context.finish("crossplane", [claim], outputs, claim=ref, secret_name=secret)
