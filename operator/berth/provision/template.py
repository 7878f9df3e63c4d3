"""The template kind: platform-owned Jinja2 templates rendering objects and outputs.

A template provisioner has a ``manifests`` template (YAML documents: the objects to
apply) and an ``outputs`` template (one YAML map: output name -> a string, or
``{secretKeyRef: {name, key}}``). Planning a resource with one (``plan_template``):

1. merge the resource's params over the provisioner's defaults (``merge_params``);
2. build the context (``template_context``) with every string opaque
   (``berth.provision.opaque``: no user value ever passes through Jinja or YAML as text);
3. render each template in the sandbox (``berth.provision.sandbox``), parse the YAML
   (safe loader, no timestamps), and only then put the user values back in;
4. check the objects: apiVersion, kind and metadata.name present, no kind from
   ``REFUSED_KINDS``, no other namespace than the Environment's; add the resource's labels;
5. check that every output the provisioner promises was rendered.

Besides ``workload``, ``resource``, ``environment``, ``identity`` and ``shared``, templates
see ``workloads``: the Environment's Workloads by name, each with ``service`` (its
Service's name) and ``ports`` (its Service's ports by name, each with ``port``,
``targetPort`` and ``protocol``), so that a template can point at another Workload.

Inside the template an opaque string can be inserted, compared (``==``, ``!=``, ``<``,
``in``), tested (``is defined``, ``is string``), measured (``|length``), used as a
condition, and transformed by a few operations that are applied to the real value and
give a new opaque string (the filters ``lower``, ``upper``, ``capitalize``, ``trim``,
``tojson``; the methods ``lower``, ``upper``, ``capitalize``, ``strip``, ``replace``;
``startswith``/``endswith`` give booleans). Anything else that would look inside it (other
filters and methods, slicing, iterating) would work on the token, not the value, and is
refused with a TemplateError. Numbers and booleans are real values. A token that comes out
transformed anyway is caught and reported instead of being written. ``reject(message)``
refuses the resource's params in the template's own words (reason ParamInvalid);
``wait(message)`` says the resource cannot be provisioned yet but may be soon, for
example while another Workload it points to does not exist (reason Waiting: the
Workload is Reconciling, not Stalled).

Errors in a template (syntax, undefined names, refused operations, output that is not
YAML or not objects) are the platform's: reason ``TemplateError``, naming the provisioner,
the template (manifests or outputs) and the line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml

from berth.api.environment import Provisioner, TemplateProvisioner
from berth.provision.errors import TemplateFailure, names, provision_error
from berth.provision.model import (
    FromSecret,
    FromValue,
    OutputSource,
    OutputSpec,
    PlanContext,
    ResourcePlan,
)
from berth.provision.opaque import OpaqueMap, Tokens, json_text, restore
from berth.provision.params import merge_params
from berth.provision.sandbox import SANDBOX, TemplateRejected, TemplateWaiting, render_text
from berth.reasons import Reason

# -- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without timestamps: a date stays a string, as in YAML 1.2."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _parse_all(text: str, what: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise TemplateFailure(
            f"{what} template rendered invalid YAML: {_yaml_error(error)}"
        ) from None


def _yaml_error(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        problem = error.problem or error.context or "invalid"
        return f"line {mark.line + 1} of the rendered text: {problem}"
    return str(error)


# -- the context -----------------------------------------------------------------------------


def template_context(
    context: PlanContext, params: Mapping[str, Any], tokens: Tokens
) -> dict[str, Any]:
    """What templates see: workload, resource, environment, identity, shared."""
    request = context.request
    resource_annotations = dict(request.metadata.annotations or {}) if request.metadata else {}
    resource = {
        "name": context.resource,
        "type": request.type,
        "class": request.class_,
        "id": request.id,
        "params": dict(params),
        "annotations": resource_annotations,
    }
    env_spec = context.environment.spec
    environment: dict[str, Any] = {
        "name": context.environment.metadata.name,
        "type": env_spec.type,
        "namespace": env_spec.namespace,
    }
    absent: dict[str, str] = {}
    if env_spec.routes is not None:
        environment["domain"] = env_spec.routes.domain
    else:
        absent["domain"] = (
            f"Environment {context.environment.metadata.name} sets no spec.routes.domain"
        )
    resource_absent: dict[str, str] = {}
    if context.shared:
        del resource["name"]
        resource_absent["name"] = (
            f"resource {context.resource!r} has an id ({request.id}), so it is shared by the "
            "Environment's Workloads, each of which may call it differently: use resource.id "
            "or identity instead of resource.name"
        )
    result: dict[str, Any] = {
        "resource": tokens.fields("resource", resource, resource_absent),
        "environment": tokens.fields("environment", environment, absent),
        "identity": tokens.wrap(context.identity, "identity"),
        "shared": context.shared,
        "workloads": tokens.fields("workloads", context.services),
    }
    if context.shared:
        result["workload"] = SANDBOX.undefined(
            hint=(
                f"resource {context.resource!r} has an id ({request.id}), so it is shared by "
                "the Environment's Workloads and its templates cannot depend on one of them: "
                "use resource.id or identity instead of workload"
            ),
            name="workload",
        )
    else:
        metadata = context.workload.spec.metadata
        annotations = dict(metadata.annotations or {}) if metadata else {}
        workload = {
            "name": context.workload.metadata.name,
            "namespace": env_spec.namespace,
            "annotations": annotations,
            "service": context.workload.spec.service_name(context.workload.metadata.name),
        }
        result["workload"] = tokens.fields("workload", workload)
    return result


# -- manifests and outputs -------------------------------------------------------------------


def _objects(documents: list[Any]) -> list[Any]:
    objects: list[Any] = []
    for document in documents:
        if document is None:
            continue
        if isinstance(document, list):
            objects.extend(document)
        else:
            objects.append(document)
    return objects


# Kinds a template may never render, whatever the operator's RBAC would allow: a
# template's objects are written with the operator's rights, on a developer's behalf.
REFUSED_KINDS = {
    ("", "Secret"): "secret values never pass through templates; use a secret provisioner",
    ("", "Namespace"): "templates create objects in the Environment's namespace only",
    ("", "ServiceAccount"): "templates do not create identities",
    ("rbac.authorization.k8s.io", "Role"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "RoleBinding"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "ClusterRole"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "templates do not grant rights",
}


def _finish_object(obj: Any, index: int, context: PlanContext) -> dict[str, Any]:
    where = f"object {index + 1}"
    if not isinstance(obj, dict):
        raise TemplateFailure(f"manifests: {where} is not a map (an object with apiVersion, kind)")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise TemplateFailure(f"manifests: {where} has no {key}")
    where = f"{obj['kind']} (object {index + 1})"
    refused = REFUSED_KINDS.get(
        (obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else "", obj["kind"])
    )
    if refused is not None:
        raise TemplateFailure(
            f"manifests: {where}: a template may not create a {obj['kind']}: {refused}"
        )
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise TemplateFailure(f"manifests: {where} has no metadata.name")
    where = f"{obj['kind']} {metadata['name']}"
    namespace = metadata.get("namespace")
    if namespace is not None and namespace != context.namespace:
        raise TemplateFailure(
            f"manifests: {where} names namespace {namespace!r}; objects are created in the "
            f"Environment's namespace {context.namespace!r} (leave metadata.namespace out)"
        )
    metadata["namespace"] = context.namespace
    labels = metadata.get("labels")
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise TemplateFailure(f"manifests: {where} has metadata.labels that are not a map")
    labels.update(context.labels())
    metadata["labels"] = labels
    return obj


def _output_source(name: str, value: Any, tokens: Tokens) -> OutputSource:
    """One output: classified as the template wrote it, before user values go in."""
    where = f"outputs: {name}"
    if isinstance(value, dict):
        ref = value.get("secretKeyRef")
        if (
            set(value) != {"secretKeyRef"}
            or not isinstance(ref, dict)
            or set(ref) != {"name", "key"}
        ):
            raise TemplateFailure(
                f"{where} must be a string or {{secretKeyRef: {{name, key}}}}, not a map"
            )
        secret_name, key = ref["name"], ref["key"]
        if not isinstance(secret_name, str) or not isinstance(key, str):
            raise TemplateFailure(f"{where}: secretKeyRef name and key must be strings")
        return FromSecret(tokens.substitute(secret_name), tokens.substitute(key))
    if isinstance(value, str):
        return FromValue(tokens.substitute(value))
    if isinstance(value, bool):
        return FromValue("true" if value else "false")
    if isinstance(value, int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return FromValue(json_text(value))
    kind = "empty (null)" if value is None else f"a {type(value).__name__}"
    raise TemplateFailure(f"{where} is {kind}; an output is a string or a secretKeyRef")


def render_outputs(
    source: str, context: Mapping[str, Any], tokens: Tokens
) -> dict[str, OutputSource]:
    documents = [
        d for d in _parse_all(render_text(source, context, "outputs"), "outputs") if d is not None
    ]
    if not documents:
        return {}
    if len(documents) > 1 or not isinstance(documents[0], dict):
        raise TemplateFailure("outputs template must render one YAML map of output names")
    result: dict[str, OutputSource] = {}
    for key, value in documents[0].items():
        if not isinstance(key, str):
            raise TemplateFailure(f"outputs: the output name {key!r} is not a string")
        name = tokens.substitute(key)
        if name in result:
            raise TemplateFailure(f"outputs: {name!r} is given twice")
        result[name] = _output_source(name, value, tokens)
    return result


def render_manifests(
    source: str, template_vars: Mapping[str, Any], tokens: Tokens, context: PlanContext
) -> list[dict[str, Any]]:
    documents = _parse_all(render_text(source, template_vars, "manifests"), "manifests")
    objects = _objects(documents)
    cleaned = [restore(obj, tokens, f"manifests: object {i + 1}") for i, obj in enumerate(objects)]
    return [_finish_object(obj, index, context) for index, obj in enumerate(cleaned)]


def plan_template(
    context: PlanContext, provisioner: Provisioner, spec: TemplateProvisioner
) -> ResourcePlan:
    """The template's objects and outputs for the resource; raises ProvisionError:
    ParamNotAllowed or ParamInvalid (the params, or the template's reject()), Waiting
    (its wait()), TemplateError, MissingOutput."""
    params = merge_params(
        spec.defaults,
        context.params,
        spec.allowed_params,
        resource=context.resource,
        provisioner=context.provisioner,
    )
    tokens = Tokens()
    template_vars: dict[str, Any] = {}
    try:
        template_vars = template_context(context, params, tokens)
        manifests = (
            render_manifests(spec.manifests, template_vars, tokens, context)
            if spec.manifests
            else []
        )
        rendered = render_outputs(spec.outputs, template_vars, tokens) if spec.outputs else {}
    except TemplateRejected as rejected:
        error = provision_error(
            Reason.PARAM_INVALID,
            f"resource {context.resource!r}: provisioner {context.provisioner} (type "
            f"{provisioner.type}) rejects its params: {tokens.reveal(rejected.message)}",
            context.resource,
        )
        error.workloads_read = workloads_read(template_vars)
        raise error from None
    except TemplateWaiting as waiting:
        error = provision_error(
            Reason.WAITING,
            f"resource {context.resource!r}: provisioner {context.provisioner} (type "
            f"{provisioner.type}) waits: {tokens.reveal(waiting.message)}",
            context.resource,
        )
        error.workloads_read = workloads_read(template_vars)
        raise error from None
    except TemplateFailure as failure:
        raise provision_error(
            Reason.TEMPLATE_ERROR,
            f"provisioner {context.provisioner} (type {provisioner.type}) cannot provision "
            f"resource {context.resource!r}: {failure}",
            context.resource,
        ) from None
    declared = list(dict.fromkeys(provisioner.outputs or []))
    missing = [name for name in declared if name not in rendered]
    if missing:
        raise provision_error(
            Reason.MISSING_OUTPUT,
            f"provisioner {context.provisioner} (type {provisioner.type}) promises "
            f"outputs {', '.join(missing)} for resource {context.resource!r}, but its "
            f"outputs template did not render them (it rendered: {names(rendered)})",
            context.resource,
        )
    order = declared + sorted(set(rendered) - set(declared))
    outputs = [OutputSpec(name, rendered[name]) for name in order]
    return context.finish(
        "template", manifests, outputs, workloads_read=workloads_read(template_vars)
    )


def workloads_read(template_vars: Mapping[str, Any]) -> frozenset[str]:
    """The names of the Workloads a rendering looked up in ``workloads`` (``*``: it walked
    them all): what it depends on beyond its own Workload and Environment."""
    found = template_vars.get("workloads")
    if not isinstance(found, OpaqueMap):
        return frozenset()
    return frozenset({"*"}) if found.walked else frozenset(found.looked_up)
