"""Issue 18: a Workload that breaks its Environment's policy is refused at `kubectl apply`,
in the words its Stalled status uses; at Warn kubectl warns and it runs; at Audit it runs
and says so on its status. Everything through the real kubectl and API server, with the
admission policies of admission/ installed as the chart installs them (the `crds`
fixture), and the real operator.

- each rule at each level: refused (stderr has Berth's words), warned (kubectl's
  ``Warning:`` line has them), admitted quietly (Audit); the Workloads that run say so on
  PolicyCompliant and the Environment's status.policy counts them; then the rule goes
  to Deny, and what already runs keeps running, Stalled in the words admission used;
- a tightened rule: a Workload that already breaks it keeps running, its metadata and
  status writes pass, a spec change that still breaks it is refused, one that fixes it
  passes, and deletion never waits on policy;
- a namespace no Environment serves: Workloads are admitted with a warning in the
  operator's words, and wait, Stalled;
- an Environment whose policy is itself invalid is refused by the CRD's schema.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from berth.api import Environment, Workload
from berth.api.policy import REGISTRY_PREFIX_MESSAGE
from berth.render.policy import NO_ENVIRONMENT, policy_findings
from berth.render.wording import fill
from tests.clusterharness import KUBECTL_CACHE_DIR, ClusterAccess, kubectl_binary
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, wait_for, workload_body

# The deny policy's refusals begin so, bound (by the operator) to any Environment.
DENIED_BY = "ValidatingAdmissionPolicy 'berth-policy-deny' with binding 'berth-policy-deny."


def denied(environment: str) -> str:
    """How the API server introduces a refusal by the deny policy, as the operator binds
    it for ``environment``."""
    return f"{DENIED_BY}{environment}' denied request: "


def warning_line(environment: str) -> str:
    """kubectl's line for the warn policy's warning, as bound for ``environment``."""
    return (
        "Warning: Validation failed for ValidatingAdmissionPolicy 'berth-policy-warn' with "
        f"binding 'berth-policy-warn.{environment}': "
    )


LEFT_AS_IT_WAS = "; the running Deployment is left as it was"


@dataclass(frozen=True)
class Applied:
    code: int
    stdout: str
    stderr: str

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Warning:")]


def kubectl_apply(
    cluster: ClusterAccess, tmp_path: Path, body: dict[str, Any], *flags: str
) -> Applied:
    """`kubectl apply -f` of one object, as a developer runs it: exit code, stdout, stderr."""
    path = tmp_path / f"{body['metadata']['name']}.json"
    path.write_text(json.dumps(body))
    proc = subprocess.run(
        [
            str(kubectl_binary()),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--cache-dir",
            str(KUBECTL_CACHE_DIR),
            "apply",
            "-f",
            str(path),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Applied(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class RuleCase:
    """A rule set on its own, and a Workload spec that breaks it."""

    rule: str
    reason: str
    setting: Any
    spec: dict[str, Any]
    fragment: str  # a piece of the message, written here, so the words are pinned too
    # What else the Environment needs for an admitted Workload to run (a provisioner).
    environment: dict[str, Any] | None = None


def _container(**fields: Any) -> dict[str, Any]:
    return {"main": {"image": "registry.acme.dev/app:1.0", **fields}}


RULE_CASES = [
    RuleCase(
        "allowedRegistries",
        "ImageNotAllowed",
        ["registry.acme.dev/"],
        {"containers": _container(image="nginx:1.27")},
        "image 'nginx:1.27' (read as '",
    ),
    RuleCase(
        "maxReplicas",
        "ReplicasAboveLimit",
        1,
        {"replicas": 2},
        "replicas 2 is above the maximum of 1",
    ),
    RuleCase(
        "requireLimits",
        "LimitsRequired",
        True,
        {"containers": _container(resources={"limits": {"memory": "128Mi"}})},
        "container 'main' has no cpu limit",
    ),
    RuleCase(
        "requireDigest",
        "DigestRequired",
        True,
        {"containers": _container()},
        "image 'registry.acme.dev/app:1.0' is not pinned by digest",
    ),
    RuleCase(
        "disallowLatestTag",
        "LatestTagNotAllowed",
        True,
        {"containers": _container(image="registry.acme.dev/app")},
        "image 'registry.acme.dev/app' names no tag (which means latest)",
    ),
    RuleCase(
        "allowedResources",
        "ResourceNotAllowed",
        [{"type": "route"}],
        {"resources": {"cache": {"type": "redis"}}},
        "resource 'cache' asks for type 'redis'",
        # redis served by a template with a constant output: the Workload runs.
        environment={"provisioners": [{"type": "redis", "template": {"outputs": "host: c"}}]},
    ),
]


def violating(name: str, namespace: str, case: RuleCase) -> dict[str, Any]:
    body = workload_body(name, **copy.deepcopy(case.spec))
    body["metadata"]["namespace"] = namespace
    return body


def expected_message(berth: Berth, environment: str, body: dict[str, Any]) -> str:
    """The operator's words for the rules this Workload breaks (Python's side)."""
    env = Environment.model_validate(berth.environment(environment))
    findings = policy_findings(Workload.model_validate(body), env)
    assert len(findings) == 1, findings
    return findings[0].message


def set_rule(berth: Berth, environment: str, case: RuleCase, level: str) -> None:
    """The Environment's policy: this rule alone, at ``level``."""
    berth.patch_environment(
        environment,
        {"spec": {"policy": {case.rule: case.setting, "enforcement": {case.rule: level}}}},
    )


def wait_admission(
    cluster: ClusterAccess,
    tmp_path: Path,
    body: dict[str, Any],
    outcome: Callable[[Applied], bool],
    what: str,
) -> Applied:
    """Until a server-side dry run of ``body`` gets ``outcome``: the API server's policy
    plugin has seen the Environment's new policy (it watches Environments as params)."""
    return wait_for(
        lambda: (lambda a: a if outcome(a) else None)(
            kubectl_apply(cluster, tmp_path, body, "--dry-run=server")
        ),
        30,
        what,
        interval=0.5,
    )


def refused(applied: Applied) -> bool:
    return applied.code != 0 and DENIED_BY in applied.stderr


def warned(applied: Applied) -> bool:
    return applied.code == 0 and bool(applied.warnings)


def quiet(applied: Applied) -> bool:
    return applied.code == 0 and not applied.warnings


def policy_entry(berth: Berth, environment: str, rule: str) -> dict[str, Any] | None:
    for entry in (berth.environment(environment).get("status") or {}).get("policy") or []:
        if entry["rule"] == rule:
            return entry  # type: ignore[no-any-return]
    return None


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.rule for c in RULE_CASES])
def test_each_rule_at_each_level(
    case: RuleCase,
    cluster: ClusterAccess,
    berth: Berth,
    environment: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    namespace = environment
    denied_body = violating("denied", namespace, case)
    if case.environment:
        berth.patch_environment(environment, {"spec": case.environment})

    # Deny: refused, in the operator's words; nothing is created.
    set_rule(berth, environment, case, "Deny")
    wait_admission(cluster, tmp_path, denied_body, refused, f"{case.rule} at Deny in force")
    message = expected_message(berth, environment, denied_body)
    assert case.fragment in message
    applied = kubectl_apply(cluster, tmp_path, denied_body)
    assert applied.code == 1, applied
    assert applied.stderr.strip().endswith(denied(environment) + message), applied.stderr
    assert 'workloads.berth.dev "denied" is forbidden' in applied.stderr
    assert not berth.custom.list_namespaced_custom_object(
        "berth.dev", "v1alpha1", namespace, "workloads"
    )["items"]

    # Warn: kubectl shows the warning in the same words; the Workload runs.
    set_rule(berth, environment, case, "Warn")
    warned_body = violating("warned", namespace, case)
    wait_admission(cluster, tmp_path, warned_body, warned, f"{case.rule} at Warn in force")
    applied = kubectl_apply(cluster, tmp_path, warned_body)
    assert applied.code == 0, applied
    assert applied.warnings == [warning_line(environment) + message], applied.stderr
    assert "workload.berth.dev/warned created" in applied.stdout

    # Audit: admitted without a word at the door.
    set_rule(berth, environment, case, "Audit")
    audited_body = violating("audited", namespace, case)
    wait_admission(cluster, tmp_path, audited_body, quiet, f"{case.rule} at Audit in force")
    applied = kubectl_apply(cluster, tmp_path, audited_body)
    assert applied.code == 0, applied
    assert applied.warnings == [], applied

    # Both run (Ready) and say what they break on PolicyCompliant; the Environment
    # counts them under the rule's level.
    for name in ("warned", "audited"):
        berth.wait_condition(namespace, name, "Ready", "True", timeout=120)
        compliant = berth.wait_condition(
            namespace, name, "PolicyCompliant", "False", reason=case.reason
        )
        assert compliant["message"] == f"Audit: {message}"
    counted = wait_for(
        lambda: (lambda e: e if e and e["violating"] == 2 and e["level"] == "Audit" else None)(
            policy_entry(berth, environment, case.rule)
        ),
        30,
        f"status.policy counting 2 Workloads breaking {case.rule}",
    )
    assert counted == {
        "rule": case.rule,
        "level": "Audit",
        "reason": case.reason,
        "violating": 2,
        "workloads": ["audited", "warned"],
    }
    wait_for(
        lambda: case.reason in [e.reason for e in berth.workload_events(namespace, "warned")],
        15,
        f"a {case.reason} Event on the warned Workload",
    )

    # The platform team sets the rule to Deny: what runs keeps running, Stalled in the
    # very words admission refused "denied" with.
    deployment = berth.apps.read_namespaced_deployment("warned", namespace)
    set_rule(berth, environment, case, "Deny")
    stalled = berth.wait_condition(namespace, "warned", "Stalled", "True", reason=case.reason)
    assert stalled["message"] == message + LEFT_AS_IT_WAS
    now = berth.apps.read_namespaced_deployment("warned", namespace)
    assert now.metadata.resource_version == deployment.metadata.resource_version
    assert now.status.ready_replicas == deployment.status.ready_replicas
    wait_for(
        lambda: (policy_entry(berth, environment, case.rule) or {}).get("level") == "Deny",
        30,
        f"status.policy with {case.rule} at Deny",
    )


def test_a_tightened_rule_leaves_what_runs_running_and_never_blocks_its_writes(
    cluster: ClusterAccess,
    berth: Berth,
    environment: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    namespace = environment
    body = workload_body("running", replicas=3)
    body["metadata"]["namespace"] = namespace
    assert kubectl_apply(cluster, tmp_path, body).code == 0
    berth.wait_condition(namespace, "running", "Ready", "True", timeout=120)
    deployment = berth.apps.read_namespaced_deployment("running", namespace)

    berth.patch_environment(environment, {"spec": {"policy": {"maxReplicas": 2}}})
    stalled = berth.wait_condition(
        namespace, "running", "Stalled", "True", reason="ReplicasAboveLimit"
    )
    assert stalled["message"].startswith("replicas 3 is above the maximum of 2")
    wait_for(
        lambda: (policy_entry(berth, environment, "maxReplicas") or {}).get("violating") == 1,
        30,
        "status.policy counting the running Workload",
    )
    now = berth.apps.read_namespaced_deployment("running", namespace)
    assert now.metadata.resource_version == deployment.metadata.resource_version
    assert now.status.ready_replicas == 3

    # Metadata writes (Argo CD's tracking label, an annotation) pass: no spec change.
    cluster.kubectl("label", "workload/running", "-n", namespace, "app.kubernetes.io/part-of=shop")
    cluster.kubectl("annotate", "workload/running", "-n", namespace, "note=tightened")
    # A spec change that still breaks the rule is refused; one that keeps it passes.
    still = copy.deepcopy(body)
    still["spec"]["containers"]["main"]["image"] = "registry.acme.dev/app:1.1"
    applied = kubectl_apply(cluster, tmp_path, still)
    assert applied.code == 1, applied
    assert denied(environment) in applied.stderr, applied
    fixed = copy.deepcopy(body)
    fixed["spec"]["replicas"] = 2
    applied = kubectl_apply(cluster, tmp_path, fixed)
    assert applied.code == 0, applied
    berth.wait_condition(namespace, "running", "Ready", "True", timeout=120)

    # Tighten again, under it: deletion (the operator's finalizer writes) never waits.
    berth.patch_environment(environment, {"spec": {"policy": {"maxReplicas": 1}}})
    berth.wait_condition(namespace, "running", "Stalled", "True", reason="ReplicasAboveLimit")
    cluster.kubectl("delete", "workload/running", "-n", namespace, "--timeout=60s", timeout=90)


def test_a_namespace_no_environment_serves_warns_in_the_operators_words(
    cluster: ClusterAccess, berth: Berth, namespace: str, tmp_path: Path
) -> None:
    """A warning, not a refusal: an Environment and its Workloads applied in one go must
    not depend on their order. The Workload waits, Stalled in the same words."""
    body = workload_body("orphan")
    body["metadata"]["namespace"] = namespace
    applied = kubectl_apply(cluster, tmp_path, body)
    assert applied.code == 0, applied
    words = fill(NO_ENVIRONMENT, namespace=namespace)
    warning = next(line for line in applied.stderr.splitlines() if line.startswith("Warning:"))
    assert "ValidatingAdmissionPolicy 'berth-environment-required'" in warning, warning
    assert warning.endswith(words), warning
    assert f"no Environment serves namespace '{namespace}'" in words
    stalled = berth.wait_condition(
        namespace, "orphan", "Stalled", "True", reason="EnvironmentNotFound"
    )
    assert words in stalled["message"], stalled

    # Naming an Environment lets it in: the operator then says what is wrong with it.
    body["spec"]["environment"] = "nowhere"
    applied = kubectl_apply(cluster, tmp_path, body)
    assert applied.code == 0, applied


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ({"allowedRegistries": ["registry.acme.dev"]}, REGISTRY_PREFIX_MESSAGE),
        ({"allowedRegistries": ["team-a/"]}, REGISTRY_PREFIX_MESSAGE),
        ({"maxReplicas": -1}, "should be greater than or equal to 0"),
        ({"enforcement": {"maxReplicas": "Block"}}, 'Unsupported value: "Block"'),
        (
            {"allowedResources": [{"type": "postgres"}, {"type": "postgres"}]},
            'allowedResources[1]: Duplicate value: {"type":"postgres"}',
        ),
    ],
    ids=["prefix-without-slash", "prefix-without-registry", "negative-max", "level", "twice"],
)
def test_an_invalid_policy_is_refused_at_admission(
    cluster: ClusterAccess, tmp_path: Path, policy: dict[str, Any], words: str
) -> None:
    body = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "invalid-policy"},
        "spec": {"type": "development", "namespace": "invalid-policy", "policy": policy},
    }
    applied = kubectl_apply(cluster, tmp_path, body, "--dry-run=server")
    assert applied.code == 1, applied
    assert words in applied.stderr, applied.stderr
    # The model the operator and `berth render` read it with refuses it too.
    with pytest.raises(ValidationError):
        Environment.model_validate(body)
