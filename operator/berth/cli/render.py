"""``berth render``: the manifests the operator would apply, offline.

The same code path as the operator: the pydantic models, then
``berth.render.render_workload``. The output is deterministic, for GitOps previews. The
Environment's policy is checked by the rules the operator and admission use
(``berth.render.policy``): a rule at Deny fails the command (exit 1), as ``kubectl apply``
would be refused; rules at Warn and Audit are listed on stderr, and fail it (exit 3) only
with ``--fail-on``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import yaml

from berth.api import API_VERSION, Environment, Workload
from berth.cli.checks import check_kind, collect, raise_all, validate
from berth.cli.loader import Document, InputError, child, describe, is_null, line_of, load_document
from berth.cli.output import to_yaml_stream
from berth.reasons import Reason
from berth.render import OutputValue, RenderError, SecretRef, render_workload
from berth.render.policy import policy_findings

# --fail-on: the levels whose broken rules fail the command (Deny always does: exit 1).
FAIL_ON = {"deny": (), "warn": ("Warn",), "audit": ("Warn", "Audit")}
# The exit code when the Workload renders but breaks a rule --fail-on names.
POLICY_EXIT_CODE = 3

OUTPUTS_HINT = (
    "pass the resources' outputs with --outputs FILE: a mapping resource -> output -> value, "
    "where a secret output is {secretRef: {name: <Secret>, key: <key>}}"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = sub.add_parser(
        "render",
        help="print the manifests the operator would apply, offline",
        description="Render a Workload in an Environment, offline, into the manifests the "
        "operator would apply (the same code path), as a YAML stream or a JSON List. The "
        "output is deterministic, for GitOps previews. The Workload's namespace defaults to "
        "the Environment's spec.namespace. The Environment's policy is checked as at kubectl "
        "apply: exit code 1 on bad input or a rule enforced with Deny; rules at Warn and "
        "Audit are listed on stderr (exit 3 with --fail-on warn or audit).",
        epilog="example: berth render -f examples/checkout.yaml -e examples/environment.yaml",
    )
    render.add_argument(
        "-f",
        "--filename",
        required=True,
        metavar="WORKLOAD",
        help="the Workload's YAML file ('-' reads stdin)",
    )
    render.add_argument(
        "-e",
        "--environment",
        required=True,
        metavar="ENVIRONMENT",
        help="the Environment's YAML file",
    )
    render.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json"),
        default="yaml",
        help="yaml: a multi-document stream (default); json: a v1 List",
    )
    render.add_argument(
        "--fail-on",
        choices=("deny", "warn", "audit"),
        default="deny",
        help="the lowest enforcement level of the Environment's policy whose broken rules "
        "fail the command: deny (default: exit 1, as kubectl apply would be refused), warn "
        "or audit (exit 3 when a rule at that level or above is broken; the manifests are "
        "still printed). Broken Warn and Audit rules are always listed on stderr.",
    )
    render.add_argument(
        "--outputs",
        metavar="FILE",
        help="YAML mapping resource -> output -> value for the Workload's resources; a "
        "secret output is {secretRef: {name: <Secret>, key: <key>}} and becomes a "
        "secretKeyRef",
    )


def _output_value(document: Document, where: str, node: yaml.Node) -> OutputValue:
    wrong = (
        f"{document.at(line_of(node))}: {where}: a value must be text or "
        "{secretRef: {name: <Secret>, key: <key>}}"
    )
    if isinstance(node, yaml.ScalarNode) and not is_null(node):
        return str(node.value)  # as written: 5432, true, 1.10
    if not isinstance(node, yaml.MappingNode):
        raise InputError(wrong)
    found = child(node, "secretRef")
    if found is None or len(node.value) != 1 or not isinstance(found[1], yaml.MappingNode):
        raise InputError(wrong)
    ref: dict[str, str] = {}
    for key, value in found[1].value:
        if not isinstance(value, yaml.ScalarNode) or is_null(value) or not value.value:
            raise InputError(
                f"{document.at(line_of(key))}: {where}.secretRef.{key.value}: "
                "must be a non-empty string"
            )
        ref[str(key.value)] = str(value.value)
    if set(ref) != {"name", "key"}:
        raise InputError(
            f"{document.at(found[0])}: {where}.secretRef: needs exactly name and key "
            f"(found: {', '.join(sorted(ref)) or 'none'})"
        )
    return SecretRef(ref["name"], ref["key"])


def load_outputs(path: str) -> dict[str, dict[str, OutputValue]]:
    """The ``--outputs`` file: resource -> output -> text or {secretRef: {name, key}}."""
    document = load_document(path, "a mapping of resource outputs")
    root = document.node
    if not isinstance(root, yaml.MappingNode):
        raise InputError(
            f"{document.at(line_of(root))}: expected a mapping resource -> output -> value, "
            f"found {describe(document.data)}"
        )
    result: dict[str, dict[str, OutputValue]] = {}
    problems: list[str] = []
    for resource_key, outputs_node in root.value:
        resource = str(resource_key.value)
        if not isinstance(outputs_node, yaml.MappingNode):
            problems.append(
                f"{document.at(line_of(resource_key))}: {resource}: expected a mapping of "
                "output names to values"
            )
            continue
        outputs: dict[str, OutputValue] = {}
        for output_key, value_node in outputs_node.value:
            where = f"{resource}.{output_key.value}"
            try:
                outputs[str(output_key.value)] = _output_value(document, where, value_node)
            except InputError as err:
                problems.extend(err.lines)
        result[resource] = outputs
    if problems:
        raise InputError(*problems)
    return result


def _render_problems(shown: str, error: RenderError, *, outputs_given: bool) -> list[str]:
    lines = [f"{shown}: {problem.reason}: {problem.message}" for problem in error.problems]
    if any(problem.reason == Reason.OUTPUTS_UNAVAILABLE for problem in error.problems):
        hint = OUTPUTS_HINT if not outputs_given else "add them to the --outputs file"
        lines.append(f"{shown}: the Workload needs resource outputs to render; {hint}")
    return lines


def main(args: argparse.Namespace) -> int:
    workload_doc, environment_doc = collect(
        lambda: load_document(args.filename, "a Workload"),
        lambda: load_document(args.environment, "an Environment"),
    )
    collect(
        lambda: raise_all(check_kind(workload_doc, "Workload", API_VERSION)),
        lambda: raise_all(check_kind(environment_doc, "Environment", API_VERSION)),
    )
    data = copy.deepcopy(workload_doc.data)
    environment_spec = environment_doc.data.get("spec")
    environment_namespace = (
        environment_spec.get("namespace") if isinstance(environment_spec, dict) else None
    )
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("namespace") and environment_namespace:
        metadata["namespace"] = environment_namespace
    workload, environment, outputs = collect(
        lambda: validate(Workload, workload_doc, data),
        lambda: validate(Environment, environment_doc),
        lambda: load_outputs(args.outputs) if args.outputs else {},
    )
    # Rules at Warn and Audit first, as kubectl shows warnings before a refusal.
    findings = [f for f in policy_findings(workload, environment) if f.level != "Deny"]
    for finding in findings:
        line = f"{workload_doc.path}: {finding.level}: {finding.reason}: {finding.message}"
        print(line, file=sys.stderr)
    try:
        rendered = render_workload(workload, environment, outputs)
    except RenderError as err:
        raise InputError(
            *_render_problems(workload_doc.path, err, outputs_given=bool(args.outputs))
        ) from None
    if args.output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "items": rendered.manifests}
        sys.stdout.write(json.dumps(listing, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(to_yaml_stream(rendered.manifests))
    failing = FAIL_ON[args.fail_on]
    return POLICY_EXIT_CODE if any(f.level in failing for f in findings) else 0
