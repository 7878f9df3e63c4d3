"""Choosing the provisioner of a resource: the most specific match wins.

There are two layers. The Environment's own ``spec.provisioners`` come first: when any of
them serves the resource, one of them is chosen, whatever the cluster offers. Only when
none does are the ClusterProvisioners looked at.

A provisioner is a candidate for a resource when its type equals the resource's, and its
class and id, where set, equal the resource's; a ClusterProvisioner must also match the
Environment: its ``environmentTypes`` and ``environmentNames``, where set, must list the
Environment's type and name.

Among an Environment's candidates, one that names the id beats one that names only the
class, which beats one that names only the type (a provisioner naming both id and class
beats one naming only the id). Ties go to the one listed first.

Among ClusterProvisioners the order is total: compare, in turn,

1. what they say about the resource: id and class > id > class > type only;
2. what they say about the Environment: names and types > names > types > neither;
3. their names, alphabetically (the first wins).

So a definition for ``class: large`` in any Environment beats one for every postgres in
Environment ``prod-eu``: the resource's own criteria are what a developer asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from berth.api.clusterprovisioner import ClusterProvisioner, ClusterProvisionerSpec
from berth.api.environment import Environment, Provisioner, ProvisionerFields
from berth.api.workload import ResourceRequest
from berth.provision.errors import names, provision_error
from berth.reasons import Reason


@dataclass(frozen=True)
class Match:
    """The provisioner chosen for a resource, and why (a sentence for status).

    ``source`` says which layer served: the Environment's own list (``index`` is the
    position in it) or a ClusterProvisioner (``index`` is -1, ``name`` is
    ``ClusterProvisioner/<name>``)."""

    index: int
    provisioner: Provisioner
    name: str
    reason: str
    source: Literal["Environment", "ClusterProvisioner"] = "Environment"


def provisioner_name(provisioner: Provisioner, index: int) -> str:
    """How status and messages name a provisioner: its name, or provisioners[<index>]."""
    return provisioner.name or f"provisioners[{index}]"


CLUSTER_PREFIX = "ClusterProvisioner/"


def cluster_provisioner_name(name: str) -> str:
    """How status and messages name a ClusterProvisioner: ClusterProvisioner/<name>, which
    ``kubectl get`` accepts as it is."""
    return f"{CLUSTER_PREFIX}{name}"


def _specificity(provisioner: ProvisionerFields) -> int:
    return (2 if provisioner.id is not None else 0) + (1 if provisioner.class_ is not None else 0)


def _environment_specificity(spec: ClusterProvisionerSpec) -> int:
    return (2 if spec.environment_names else 0) + (1 if spec.environment_types else 0)


def cluster_rank(definition: ClusterProvisioner) -> tuple[int, int, str]:
    """The sort key of the total order among ClusterProvisioners: smallest wins."""
    spec = definition.spec
    return (-_specificity(spec), -_environment_specificity(spec), definition.name)


def serves_environment(spec: ClusterProvisionerSpec, environment: Environment | None) -> bool:
    """Whether a ClusterProvisioner's environment criteria admit ``environment``."""
    if environment is None:
        return not spec.environment_types and not spec.environment_names
    if spec.environment_types and environment.spec.type not in spec.environment_types:
        return False
    return not spec.environment_names or environment.name in spec.environment_names


def _serves(provisioner: ProvisionerFields, request: ResourceRequest) -> bool:
    return (
        provisioner.type == request.type
        and (provisioner.class_ is None or provisioner.class_ == request.class_)
        and (provisioner.id is None or provisioner.id == request.id)
    )


def _what(provisioner: ProvisionerFields) -> str:
    parts = []
    if provisioner.class_ is not None:
        parts.append(f"class {provisioner.class_}")
    if provisioner.id is not None:
        parts.append(f"id {provisioner.id}")
    return " and ".join(parts) if parts else "any class and id"


def _request(request: ResourceRequest) -> str:
    parts = [f"type {request.type}"]
    if request.class_ is not None:
        parts.append(f"class {request.class_}")
    if request.id is not None:
        parts.append(f"id {request.id}")
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _criteria(spec: ProvisionerFields, environment: ClusterProvisionerSpec | None = None) -> str:
    matched = [f"type {spec.type}"]
    if spec.class_ is not None:
        matched.append(f"class {spec.class_}")
    if spec.id is not None:
        matched.append(f"id {spec.id}")
    if environment is not None and environment.environment_types:
        matched.append("environment type " + "/".join(environment.environment_types))
    if environment is not None and environment.environment_names:
        matched.append("environment name " + "/".join(environment.environment_names))
    if len(matched) < 3:
        return " and ".join(matched)
    return ", ".join(matched[:-1]) + f" and {matched[-1]}"


def _environment_what(spec: ClusterProvisionerSpec) -> str:
    parts = []
    if spec.environment_types:
        parts.append("environment types " + ", ".join(spec.environment_types))
    if spec.environment_names:
        parts.append("environments " + ", ".join(spec.environment_names))
    return " and ".join(parts)


def _match_cluster(
    resource_name: str,
    request: ResourceRequest,
    listed: list[Provisioner],
    cluster: Sequence[ClusterProvisioner],
    environment: Environment | None,
) -> Match | None:
    same_type = [d for d in cluster if d.spec.type == request.type]
    candidates = sorted(
        (
            d
            for d in same_type
            if _serves(d.spec, request) and serves_environment(d.spec, environment)
        ),
        key=cluster_rank,
    )
    if not candidates:
        return None
    chosen = candidates[0]
    name = cluster_provisioner_name(chosen.name)
    local = sum(1 for p in listed if p.type == request.type)
    reason = f"{name} matched {_criteria(chosen.spec, chosen.spec)}; "
    if local:
        reason += f"none of the Environment's {_plural(local, 'provisioner')} of type "
        reason += f"{request.type} serves it; "
    else:
        reason += f"the Environment has no provisioner of type {request.type}; "
    reason += f"{_plural(len(same_type), 'ClusterProvisioner')} of type {request.type} considered"
    tied = [d.name for d in candidates[1:] if cluster_rank(d)[:2] == cluster_rank(chosen)[:2]]
    others = len(candidates) - 1 - len(tied)
    if others:
        reason += f", {others} less specific"
    if tied:
        reason += f", {', '.join(tied)} as specific (the first by name wins)"
    return Match(
        index=-1,
        provisioner=chosen.provisioner(),
        name=name,
        reason=reason,
        source="ClusterProvisioner",
    )


def _no_cluster_match(
    request: ResourceRequest,
    cluster: Sequence[ClusterProvisioner],
    environment: Environment | None,
) -> str:
    same_type = [d for d in cluster if d.spec.type == request.type]
    if not same_type:
        return f"; ClusterProvisioners provide types: {names({d.spec.type for d in cluster})}"
    offered = []
    for definition in sorted(same_type, key=lambda d: d.name):
        spec = definition.spec
        what = []
        if spec.class_ is not None or spec.id is not None:
            what.append(_what(spec))
        if spec.environment_types or spec.environment_names:
            what.append(_environment_what(spec))
        offered.append(
            f"{cluster_provisioner_name(definition.name)} serves {' in '.join(what) or 'any'}"
        )
    where = f" in Environment {environment.name}" if environment is not None else ""
    return f"; no ClusterProvisioner of type {request.type} matches{where} ({'; '.join(offered)})"


def match(
    resource_name: str,
    request: ResourceRequest,
    provisioners: Sequence[Provisioner] | None,
    cluster: Sequence[ClusterProvisioner] = (),
    environment: Environment | None = None,
) -> Match:
    """The provisioner for resource ``resource_name``: the most specific of the
    Environment's own ``provisioners``, else the most specific of the ClusterProvisioners
    (``cluster``) that match ``environment``. Raises ProvisionError (NoProvisioner)."""
    listed = list(provisioners or [])
    same_type = [(i, p) for i, p in enumerate(listed) if p.type == request.type]
    candidates = [(i, p) for i, p in same_type if _serves(p, request)]
    if not candidates:
        from_cluster = _match_cluster(resource_name, request, listed, cluster, environment)
        if from_cluster is not None:
            return from_cluster
        if same_type:
            offered = "; ".join(f"{provisioner_name(p, i)} serves {_what(p)}" for i, p in same_type)
            message = (
                f"no provisioner serves resource {resource_name!r} ({_request(request)}): "
                f"the Environment's provisioners of type {request.type} do not match "
                f"({offered}); change the resource's class or id, or ask the platform team"
            )
        else:
            message = (
                f"no provisioner serves resource {resource_name!r} of type "
                f"{request.type!r}; the Environment provides types: "
                f"{names({p.type for p in listed})}"
            )
        if cluster:
            message += _no_cluster_match(request, cluster, environment)
        raise provision_error(Reason.NO_PROVISIONER, message, resource_name)
    best = max(_specificity(p) for _, p in candidates)
    index, chosen = next((i, p) for i, p in candidates if _specificity(p) == best)
    name = provisioner_name(chosen, index)
    reason = f"{name} matched {_criteria(chosen)}; {_plural(len(listed), 'provisioner')} considered"
    others = len(candidates) - 1
    if others:
        reason += f", {others} less specific or listed later"
    return Match(index=index, provisioner=chosen, name=name, reason=reason)
