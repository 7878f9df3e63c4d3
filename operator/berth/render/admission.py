"""The ValidatingAdmissionPolicies that check a Workload against its Environment's policy
when it is applied — generated from the same rules the operator runs (pure).

``admission_manifests()`` returns, in the order they are applied:

- ``berth-environment-required``: a Workload in a namespace that no Environment serves
  (no ``berth.dev/environment`` label) and that names none in ``spec.environment`` is
  admitted with a warning, in the operator's EnvironmentNotFound words. A warning, not a
  refusal: an Environment and its Workloads applied together (one Argo CD sync, one
  ``kubectl apply -f dir/``) must not depend on the order they reach the API server; the
  Workload waits, Stalled, and runs once its Environment serves the namespace;
- ``berth-policy-deny``, ``berth-policy-warn``, ``berth-policy-audit``: one policy per
  enforcement level, each checking the rules set to its level, each bound with that
  validation action (a binding's actions apply to every validation of its policy).

The parameter is the Environment (paramKind). The operator binds each level's policy to
each Environment (``environment_bindings``: by name, for the namespace labelled as its),
so the API server picks the one binding that applies by a label selector before any CEL
runs. Each evaluation still lets pass a Workload that names another Environment in
``spec.environment``, and a match condition skips an Environment of another namespace.

Only creates and updates that change ``spec`` are checked: the operator's finalizer and
status writes, and labels written by Argo CD, pass on a Workload that already breaks a
rule, and deletion never waits on policy. What already runs is the operator's to report.

The manifests go to ``admission/`` (``berth admission --out admission/``, ``make crds``),
the chart ships that file, and a test fails when it drifts from this module.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from berth.api.common import API_VERSION, GROUP
from berth.api.container import MAX_CONTAINERS
from berth.api.policy import ENFORCEMENT_LEVELS, EnforcementLevel
from berth.api.workload import MAX_RESOURCES
from berth.names import ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from berth.render.policy import NO_ENVIRONMENT
from berth.render.policy_rules import RULES
from berth.render.wording import cel_fill, cel_string

ADMISSION_API_VERSION = "admissionregistration.k8s.io/v1"
MAX_BINDING_NAME = 253
ENVIRONMENT_REQUIRED = "berth-environment-required"
# What admission says when a message would be longer than the API server shows (5 KiB).
TOO_LONG = (
    "the Workload breaks its Environment's policy in more ways than fit here; "
    "berth render, or the Workload's status once applied at Warn, lists them"
)


def policy_name(level: EnforcementLevel) -> str:
    return f"berth-policy-{level.lower()}"


def _namespace_label() -> str:
    return f"namespaceObject.metadata.?labels[?{cel_string(ENVIRONMENT_LABEL)}]"


def sorted_keys_variables(name: str, keys_expr: str, most: int) -> list[dict[str, str]]:
    """Variables ``<name>Keys``, ``<name>Ranks`` and ``<name>Names``: the keys of a map
    (``keys_expr``, at most ``most``), sorted as Python's ``sorted`` sorts them. A map's
    keys come in no fixed order in CEL, and the CEL of the Kubernetes versions Berth
    supports has no sort: a key's rank is how many keys are smaller, and position i
    holds the key of rank i."""
    keys, ranks = f"variables.{name}Keys", f"variables.{name}Ranks"
    positions = f"[{', '.join(str(i) for i in range(most))}]"
    return [
        {"name": f"{name}Keys", "expression": keys_expr},
        {"name": f"{name}Ranks", "expression": f"{keys}.map(k, {keys}.filter(j, j < k).size())"},
        {
            "name": f"{name}Names",
            "expression": (
                f"{positions}.filter(i, i < {keys}.size()).map(i, {keys}[{ranks}.indexOf(i)])"
            ),
        },
    ]


def _level_variable(key: str) -> str:
    return f"{key}Level"


def _variables(level: EnforcementLevel) -> list[dict[str, str]]:
    governs = (
        "has(object.spec.environment) ? object.spec.environment == params.metadata.name : "
        f"{_namespace_label()}.orValue('') == params.metadata.name"
    )
    variables = [
        {"name": "governs", "expression": governs},
        *sorted_keys_variables("container", "object.spec.containers.map(k, k)", MAX_CONTAINERS),
        *sorted_keys_variables(
            "resource",
            "has(object.spec.resources) ? object.spec.resources.map(k, k) : []",
            MAX_RESOURCES,
        ),
    ]
    for rule in RULES:
        level_of_rule = (
            f"params.spec.?policy.?enforcement.?{rule.key}.orValue({cel_string('Deny')})"
        )
        variables += [
            {"name": _level_variable(rule.key), "expression": level_of_rule},
            {"name": rule.key, "expression": rule.cel_messages()},
        ]
    messages = " + ".join(
        f"(variables.{_level_variable(rule.key)} == {cel_string(level)} ? "
        f"variables.{rule.key} : [])"
        for rule in RULES
    )
    variables.append({"name": "messages", "expression": messages})
    return variables


def _match_workloads() -> dict[str, Any]:
    return {
        "resourceRules": [
            {
                "apiGroups": [GROUP],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["workloads"],
                "scope": "Namespaced",
            }
        ]
    }


# Creates, and updates that change the spec: never status, finalizer or label writes.
SPEC_WRITTEN = {
    "name": "spec-written",
    "expression": "oldObject == null || object.spec != oldObject.spec",
}


def level_policy(level: EnforcementLevel) -> dict[str, Any]:
    """The policy that checks the rules set to ``level``."""
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(level)},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": API_VERSION, "kind": "Environment"},
            "matchConstraints": {
                **_match_workloads(),
                "namespaceSelector": {
                    "matchExpressions": [{"key": ENVIRONMENT_LABEL, "operator": "Exists"}]
                },
            },
            "matchConditions": [
                SPEC_WRITTEN,
                {
                    "name": "environment-of-this-namespace",
                    "expression": "params.spec.namespace == request.namespace",
                },
            ],
            "variables": _variables(level),
            "validations": [
                {
                    "expression": "!variables.governs || variables.messages.size() == 0",
                    "messageExpression": "variables.messages.join('; ')",
                    "message": TOO_LONG,
                    "reason": "Forbidden",
                }
            ],
        },
    }


BINDING_KIND = "ValidatingAdmissionPolicyBinding"


def binding_name(level: EnforcementLevel, environment: str) -> str:
    """``berth-policy-<level>.<environment>``, or a hashed tail where that is too long."""
    name = f"{policy_name(level)}.{environment}"
    if len(name) <= MAX_BINDING_NAME:
        return name
    digest = hashlib.sha256(environment.encode()).hexdigest()[:10]
    return f"{name[: MAX_BINDING_NAME - 11]}-{digest}"


def environment_bindings(environment: str, uid: str) -> list[dict[str, Any]]:
    """The operator's bindings for one Environment: each level's policy, with this
    Environment as its one parameter (by name), for the namespace labelled as its.

    Why the operator writes them, one per Environment and level, rather than the chart
    one per level for every Environment (paramRef.selector): with a selector the API
    server evaluates each policy once per Environment, so every Workload write costs
    time in proportion to how many Environments there are (hack/bench/admission.py:
    about 0.3 ms per Environment, 270 ms at 1,000); with a binding per Environment,
    the namespace selector picks the one that applies before any CEL runs. Owned by
    the Environment: the garbage collector removes them with it. The operator only ever
    creates them (RBAC "get" and "create"): it cannot change or delete any binding,
    Berth's or another policy's (ValidatingAdmissionPolicies do not apply to bindings,
    so RBAC is the only fence)."""
    return [
        {
            "apiVersion": ADMISSION_API_VERSION,
            "kind": BINDING_KIND,
            "metadata": {
                "name": binding_name(level, environment),
                "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENVIRONMENT_LABEL: environment},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "Environment",
                        "name": environment,
                        "uid": uid,
                    }
                ],
            },
            "spec": {
                "policyName": policy_name(level),
                "validationActions": [level],
                "paramRef": {"name": environment, "parameterNotFoundAction": "Allow"},
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {ENVIRONMENT_LABEL: environment}}
                },
            },
        }
        for level in ENFORCEMENT_LEVELS
    ]


def environment_required_policy() -> dict[str, Any]:
    """A Workload needs an Environment, its namespace's or the one it names: said at
    ``kubectl apply`` as a warning (see the module's docstring for why not a refusal)."""
    namespace = "request.namespace"
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": ENVIRONMENT_REQUIRED},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": _match_workloads(),
            "matchConditions": [SPEC_WRITTEN],
            "validations": [
                {
                    "expression": (
                        f"has(object.spec.environment) || {_namespace_label()}.hasValue()"
                    ),
                    "messageExpression": cel_fill(NO_ENVIRONMENT, {"namespace": namespace}),
                    "reason": "Forbidden",
                }
            ],
        },
    }


def environment_required_binding() -> dict[str, Any]:
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": ENVIRONMENT_REQUIRED},
        "spec": {"policyName": ENVIRONMENT_REQUIRED, "validationActions": ["Warn"]},
    }


def admission_manifests() -> list[dict[str, Any]]:
    """The policies (and the environment-required binding) the chart and `make dev`
    install; the operator binds the level policies per Environment."""
    manifests = [environment_required_policy(), environment_required_binding()]
    manifests += [level_policy(level) for level in ENFORCEMENT_LEVELS]
    return manifests


ADMISSION_FILENAME = "policies.yaml"
ADMISSION_HEADER = (
    "# Generated by `berth admission` (make crds) from berth/render/policy_rules.py and\n"
    "# berth/render/admission.py. Do not edit: a test fails when this file and the\n"
    "# rules differ. The chart ships a copy (charts/berth/admission/); the operator binds\n"
    "# the berth-policy-* policies, one binding per Environment and level.\n"
)


def dump_admission() -> str:
    """The exact text of the admission policies file: a header, then one YAML document
    per policy and binding."""
    documents = [
        yaml.safe_dump(
            manifest, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
        )
        for manifest in admission_manifests()
    ]
    return ADMISSION_HEADER + "".join(f"---\n{doc}" for doc in documents)


def admission_files() -> dict[str, str]:
    """File name -> exact text of the generated admission files."""
    return {ADMISSION_FILENAME: dump_admission()}
