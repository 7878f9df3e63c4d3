"""Pure policy checks: does a Workload satisfy its Environment's policy, rule by rule?

Each rule (``berth.render.policy_rules``) is written once with its Python check and its
CEL twin side by side, and one message template for both (``berth.render.wording``).
Here the Python side runs them:

- ``policy_findings(workload, environment)``: every rule the Workload breaks, each with
  its enforcement level (Deny, Warn, Audit), in a stable order;
- ``check_policy(workload, environment)``: the Deny ones as Problems. ``render_workload``
  refuses those (the Workload is Stalled), exactly what admission refuses;
- ``policy_status(environment, workloads)``: per rule, how many of an Environment's
  Workloads break it now (the Environment's status.policy).

``berth.render.admission`` builds the ValidatingAdmissionPolicies from the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from berth.api.environment import Environment
from berth.api.policy import MAX_NAMED_VIOLATORS, EnforcementLevel
from berth.api.workload import Workload
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.policy_rules import RULES, Rule
from berth.render.wording import fill

Violation = Problem

# No Environment for a Workload: the operator's EnvironmentNotFound words, and admission's
# (berth.render.admission refuses such a Workload with them).
NO_ENVIRONMENT = (
    "no Environment serves namespace {namespace!q}; ask the platform team for one with "
    "spec.namespace: {namespace}, or name one in spec.environment"
)


@dataclass(frozen=True)
class Finding:
    """One rule a Workload breaks, how it is enforced, and the words that say so."""

    rule: str  # the rule's field in spec.policy, e.g. allowedRegistries
    level: EnforcementLevel
    problem: Problem

    @property
    def reason(self) -> str:
        return self.problem.reason

    @property
    def message(self) -> str:
        return self.problem.message


def rule_findings(rule: Rule, workload: Workload, environment: Environment) -> list[Finding]:
    """The ways ``workload`` breaks one rule (none when the rule is not set)."""
    policy = environment.spec.policy
    if policy is None or not rule.active(policy):
        return []
    level = policy.level(rule.key)
    name = environment.metadata.name
    return [
        Finding(rule.key, level, Problem(rule.reason, fill(rule.template, environment=name, **s)))
        for s in rule.check(workload, environment)
    ]


def policy_findings(workload: Workload, environment: Environment) -> list[Finding]:
    """Every way ``workload`` breaks ``environment``'s policy, at every level, in the
    rules' order (the order admission says them in)."""
    return [f for rule in RULES for f in rule_findings(rule, workload, environment)]


def check_policy(workload: Workload, environment: Environment) -> list[Violation]:
    """The rules enforced with Deny that ``workload`` breaks: what admission refuses and
    what makes a Workload that already runs Stalled."""
    return [f.problem for f in policy_findings(workload, environment) if f.level == "Deny"]


def findings_message(findings: Iterable[Finding]) -> str:
    """The findings as one message, each with its level: ``Warn: ...; Audit: ...``."""
    return "; ".join(f"{f.level}: {f.message}" for f in findings)


def compliance(findings: Sequence[Finding], environment: str | None) -> tuple[bool, str, str]:
    """The Workload's PolicyCompliant condition (status, reason, message): True, or False
    with every rule broken and its level. A Workload that breaks only Warn and Audit
    rules runs and becomes Ready: this condition (and its Event) is where it says so."""
    if not findings:
        return (
            True,
            Reason.COMPLIANT,
            f"the Workload breaks no rule of Environment {environment!r}'s policy",
        )
    return False, findings[0].reason, findings_message(findings)


def governs(environment: Environment, workload: Mapping[str, Any]) -> bool:
    """Is ``environment`` the one ``workload`` (a body in its namespace) runs in?"""
    named = (workload.get("spec") or {}).get("environment")
    return not named or named == environment.metadata.name


def policy_status(
    environment: Environment, workloads: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    """The Environment's status.policy: each rule that is set, its level, and the
    Workloads (bodies, those of its namespace) that break it now. A Workload whose spec
    does not parse is not counted (it is Stalled with InvalidSpec already)."""
    policy = environment.spec.policy
    active = [rule for rule in RULES if policy is not None and rule.active(policy)]
    if policy is None or not active:
        return None
    breaking: dict[str, set[str]] = {rule.key: set() for rule in active}
    for body in workloads:
        if not governs(environment, body):
            continue
        try:
            workload = Workload.model_validate(body)
        except ValidationError:
            continue
        for rule in active:
            if rule.check(workload, environment):
                breaking[rule.key].add(workload.metadata.name)
    entries = []
    for rule in active:
        names = sorted(breaking[rule.key])
        entry: dict[str, Any] = {
            "rule": rule.key,
            "level": policy.level(rule.key),
            "reason": str(rule.reason),
            "violating": len(names),
        }
        if names:
            entry["workloads"] = names[:MAX_NAMED_VIOLATORS]
        entries.append(entry)
    return entries
