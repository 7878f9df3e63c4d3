"""Provisioning: how an Environment provides the resources a Workload asks for.

Pure, like render: no kopf, no client, no clock, no I/O. For each resource of a Workload
(in ``berth.render.resource_order``):

1. ``match()`` chooses the provisioner: the most specific of the Environment's own, else
   the most specific ClusterProvisioner whose criteria match;
2. ``plan()`` says what to apply (a Crossplane claim, a template's objects, or nothing
   for an existing Secret) and where each promised output comes from — both through
   ``plan_resource()``, the one entry point for one resource, which first resolves its
   params from the outputs of the resources before it;
3. ``outputs_from()`` turns the claim and the keys of its Secret, as read back from the
   cluster, into the resource's state and, once Ready, its outputs for render.

The kinds: ``crossplane`` (a claim), ``secret`` (an existing Secret) and ``template``
(platform-owned Jinja2: ``template`` plans, ``sandbox`` runs Jinja, ``opaque`` keeps user
values out of a template's structure). Errors have one style, ``berth.provision.errors``
says which: what cannot be made raises ``ProvisionError`` with every problem found.
"""

from berth.provision.errors import ProvisionError
from berth.provision.identity import (
    IDENTITY_MAX,
    connection_secret_name,
    is_shared,
    resource_identity,
)
from berth.provision.match import (
    CLUSTER_PREFIX,
    Match,
    cluster_provisioner_name,
    cluster_rank,
    match,
    provisioner_name,
    serves_environment,
)
from berth.provision.model import (
    ClaimRef,
    FromField,
    FromSecret,
    FromValue,
    OutputSource,
    OutputSpec,
    ResourcePlan,
)
from berth.provision.observe import (
    PHASES,
    Phase,
    ResourceState,
    check_secret_keys,
    outputs_from,
)
from berth.provision.params import merge_params
from berth.provision.plan import check_provisioners, kind_spec, plan
from berth.provision.resource import plan_resource
from berth.provision.services import workload_services

__all__ = [
    "CLUSTER_PREFIX",
    "IDENTITY_MAX",
    "PHASES",
    "ClaimRef",
    "FromField",
    "FromSecret",
    "FromValue",
    "Match",
    "OutputSource",
    "OutputSpec",
    "Phase",
    "ProvisionError",
    "ResourcePlan",
    "ResourceState",
    "check_provisioners",
    "check_secret_keys",
    "cluster_provisioner_name",
    "cluster_rank",
    "connection_secret_name",
    "is_shared",
    "kind_spec",
    "match",
    "merge_params",
    "outputs_from",
    "plan",
    "plan_resource",
    "provisioner_name",
    "resource_identity",
    "serves_environment",
    "workload_services",
]
