"""Least privilege for previews (issue 19, point 6), with ServiceAccount tokens.

The operator runs with nothing but the chart's rights (as tests/e2e/test_rbac.py runs
it): it makes previews, binds the base's creators, copies Workloads and tears down, and
the API server refuses it nothing. CI runs with nothing but a ServiceAccount token that
a base names in ``spec.previews.creators``: it can make a preview of that base, apply
Workloads into the preview and delete it — and cannot create any Environment, change
its base, write into the base's namespace, or touch another base's previews.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from tests.clusterharness import BIN_DIR, ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.test_rbac import (  # noqa: F401 (fixtures)
    ChartRbac,
    Scene,
    chart_rbac,
    claim_crds,
    composer,
    create_namespace,
    delete_namespace,
    module_tmp,
    rbac_operator,
    refusals,
    run_kubectl,
    scene,
    token_kubeconfig,
)
from tests.kubeutil import environment_body, wait_for
from tests.previewkit import Previews, app_workload, preview_body


@pytest.fixture(scope="module")
def ci(cluster: ClusterAccess, api: ApiClient, module_tmp: Path) -> Iterator[tuple[str, Path]]:  # noqa: F811
    """A ServiceAccount "ci" in a namespace of its own, and a kubeconfig with its token."""
    namespace = f"ci-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api)
    create_namespace(core, namespace)
    try:
        core.create_namespaced_service_account(
            namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="ci"))
        )
        proc = run_kubectl(
            cluster.kubeconfig, "create", "token", "ci", "-n", namespace, "--duration=1h"
        )
        assert proc.returncode == 0, proc.stderr
        yield (
            namespace,
            token_kubeconfig(cluster, proc.stdout.strip(), module_tmp / "ci.kubeconfig"),
        )
    finally:
        delete_namespace(core, namespace)


def base_with_creators(name: str, creators: list[dict[str, Any]]) -> dict[str, Any]:
    body = environment_body(name, name, deletionPolicy="Delete")
    body["metadata"]["labels"] = {"berth.dev/test": "true"}
    body["spec"]["previews"] = {"maxCount": 5, "creators": creators}
    return body


def as_ci(
    kubeconfig: Path, *args: str, stdin: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    text = yaml.safe_dump(stdin) if stdin is not None else None
    from tests.clusterharness import kubectl_binary

    return subprocess.run(
        [str(kubectl_binary()), "--kubeconfig", str(kubeconfig), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )


def forbidden(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode != 0 and "forbidden" in proc.stderr.lower()


def test_ci_makes_and_deletes_a_preview_of_its_base_and_nothing_else(
    scene: Scene,  # noqa: F811
    ci: tuple[str, Path],
    api: ApiClient,
    composer: TestOnlyComposer,  # noqa: F811
) -> None:
    ci_namespace, kubeconfig = ci
    me = {"kind": "ServiceAccount", "name": "ci", "namespace": ci_namespace}
    someone = {"kind": "ServiceAccount", "name": "other", "namespace": ci_namespace}
    berth, previews = scene.berth, Previews(api, scene.berth)
    mine = f"{scene.prefix}-mine"
    theirs = f"{scene.prefix}-theirs"
    for name, creators in ((mine, [me]), (theirs, [someone])):
        scene.environments.append(name)
        berth.create_environment(base_with_creators(name, creators))
        wait_for(lambda n=name: previews.namespace_exists(n), 60, f"namespace {name}")  # type: ignore[misc]
        berth.create_workload(name, app_workload("web"))
    # Their base has a preview too (made by its own creator; here, the admin).
    previews.create(theirs, preview_body("pr-9", copyWorkloads=[]))
    their_preview = previews.wait_ready(theirs, "pr-9")["status"]["namespace"]

    # CI asks for a preview of its base: allowed (once Berth has bound it there).
    request = preview_body("pr-1", mine, ttl="1h")
    wait_for(
        lambda: as_ci(kubeconfig, "apply", "-f", "-", stdin=request).returncode == 0,
        60,
        "CI's Preview",
    )
    target = previews.wait_ready(mine, "pr-1")["status"]["namespace"]
    assert target == f"{mine}-pr-1"
    # ...applies its changed Workload into the preview, reads it, waits for it:
    own = app_workload("web", image="registry.acme.dev/app:2-pr")
    own["metadata"]["namespace"] = target
    applied = as_ci(kubeconfig, "apply", "-f", "-", stdin=own)
    assert applied.returncode == 0, applied.stderr
    waited = as_ci(
        kubeconfig, "wait", "--for=condition=Ready", "workload/web", "-n", target, "--timeout=120s"
    )
    assert waited.returncode == 0, waited.stderr
    assert as_ci(kubeconfig, "get", "preview", "pr-1", "-n", mine).returncode == 0

    # ...and nothing else.
    production = environment_body(f"{scene.prefix}-prod", f"{scene.prefix}-prod", type="production")
    refused = {
        "create an Environment": as_ci(
            kubeconfig, "create", "--dry-run=server", "-f", "-", stdin=production
        ),
        "create a preview Environment": as_ci(
            kubeconfig,
            "create",
            "--dry-run=server",
            "-f",
            "-",
            stdin={
                **production,
                "spec": {"type": "preview", "namespace": "x", "preview": {"base": mine}},
            },
        ),
        "change its base": as_ci(
            kubeconfig,
            "patch",
            "environment",
            mine,
            "--type=merge",
            "-p",
            '{"spec":{"policy":null}}',
            "--dry-run=server",
        ),
        "write into its base's namespace": as_ci(
            kubeconfig,
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            stdin={**app_workload("x"), "metadata": {"name": "x", "namespace": mine}},
        ),
        "ask for a preview of another base": as_ci(
            kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=preview_body("pr-2", theirs)
        ),
        "write into another base's preview": as_ci(
            kubeconfig,
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            stdin={**app_workload("x"), "metadata": {"name": "x", "namespace": their_preview}},
        ),
        "delete another base's preview": as_ci(
            kubeconfig, "delete", "preview", "pr-9", "-n", theirs, "--dry-run=server"
        ),
        "read Secrets in its preview": as_ci(kubeconfig, "get", "secrets", "-n", target),
        "bind roles in its preview": as_ci(
            kubeconfig,
            "create",
            "rolebinding",
            "x",
            "--clusterrole=admin",
            f"--serviceaccount={ci_namespace}:ci",
            "-n",
            target,
            "--dry-run=server",
        ),
        "delete the preview's namespace": as_ci(
            kubeconfig, "delete", "namespace", target, "--dry-run=server"
        ),
    }
    allowed = [what for what, proc in refused.items() if not forbidden(proc)]
    assert not allowed, {what: refused[what].stdout + refused[what].stderr for what in allowed}

    # CI deletes its preview; the teardown runs under the operator's own rights.
    deleted = as_ci(kubeconfig, "delete", "preview", "pr-1", "-n", mine, "--timeout=180s")
    assert deleted.returncode == 0, deleted.stderr
    assert previews.environment(target) is None
    wait_for(lambda: not previews.namespace_exists(target), 60, f"namespace {target} gone")
    previews.delete(theirs, "pr-9")
    previews.wait_gone(theirs, "pr-9")
    assert not refusals(
        scene.operator.log_path.read_text(), scene.own_namespaces() | {target, their_preview}
    )


# -- the GitHub Actions recipe, run as it is with the CI token --------------------------------

RECIPE = (
    Path(__file__).resolve().parents[2] / "examples" / "previews" / "github-actions" / "preview.yml"
)
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def cluster_secrets(cluster: ClusterAccess, token: str) -> dict[str, str]:
    """What the repository's secrets would hold: the API server's URL, its CA, the token."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])[
        "cluster"
    ]
    if server.get("certificate-authority-data"):
        ca = base64.b64decode(server["certificate-authority-data"]).decode()
    else:
        path = Path(server["certificate-authority"])
        ca = (path if path.is_absolute() else cluster.kubeconfig.parent / path).read_text()
    return {
        "secrets.PREVIEW_KUBE_SERVER": server["server"],
        "secrets.PREVIEW_KUBE_CA": ca,
        "secrets.PREVIEW_KUBE_TOKEN": token,
    }


def run_job(
    workflow: dict[str, Any], job: str, values: dict[str, str], env: dict[str, str], workdir: Path
) -> None:
    """Run a job's `run:` steps as a GitHub-hosted runner would (bash -eo pipefail, the
    workflow's and the step's env with their expressions filled in from ``values``,
    GITHUB_ENV carried from step to step). `uses:` steps (checkout) are the caller's."""

    def filled(text: str) -> str:
        return EXPRESSION.sub(lambda m: values[m.group(1)], text)

    runner = workdir / "runner"
    runner.mkdir(exist_ok=True)
    github_env = runner / "env"
    github_env.write_text("")
    base = {
        "PATH": f"{BIN_DIR}:/usr/bin:/bin",
        "HOME": str(runner),
        "RUNNER_TEMP": str(runner),
        "GITHUB_ENV": str(github_env),
        "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
        **{k: filled(str(v)) for k, v in (workflow.get("env") or {}).items()},
        **env,
    }
    for step in workflow["jobs"][job]["steps"]:
        if "run" not in step:
            assert step["uses"].startswith("actions/checkout@"), step
            continue
        step_env = {**base, **{k: filled(str(v)) for k, v in (step.get("env") or {}).items()}}
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            step_env[key] = value
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, f"step {step.get('name')!r}:\n{proc.stdout}{proc.stderr}"


def test_the_github_actions_recipe_runs_with_the_ci_token(
    scene: Scene,  # noqa: F811
    ci: tuple[str, Path],
    cluster: ClusterAccess,
    api: ApiClient,
    tmp_path: Path,
    composer: TestOnlyComposer,  # noqa: F811
) -> None:
    ci_namespace, kubeconfig = ci
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    base = f"{scene.prefix}-gha"
    scene.environments.append(base)
    scene.berth.create_environment(
        base_with_creators(
            base, [{"kind": "ServiceAccount", "name": "ci", "namespace": ci_namespace}]
        )
    )
    previews = Previews(api, scene.berth)
    wait_for(lambda: previews.namespace_exists(base), 60, f"namespace {base}")
    for name in ("web", "cart"):
        scene.berth.create_workload(base, app_workload(name))
    workflow = yaml.safe_load(RECIPE.read_text())
    assert workflow["jobs"]["up"]["if"] == "github.event.action != 'closed'"
    assert workflow["jobs"]["down"]["if"] == "github.event.action == 'closed'"
    # The checkout: the repository's changed Workload.
    changed = tmp_path / "deploy" / "workloads"
    changed.mkdir(parents=True)
    own = app_workload("web", image="registry.acme.dev/app:7-pr")
    (changed / "web.yaml").write_text(yaml.safe_dump(own))
    values = {"github.event.pull_request.number": "7", **cluster_secrets(cluster, token)}

    run_job(workflow, "up", values, {"BASE_NAMESPACE": base}, tmp_path)
    target = f"{base}-pr-7"
    preview = previews.get(base, "pr-7")
    assert preview is not None
    assert preview["status"]["namespace"] == target
    assert preview["spec"] == {"ttl": "48h"}
    assert scene.berth.rolled_out(target, "web", "registry.acme.dev/app:7-pr")
    assert scene.berth.workload(target, "cart")["metadata"]["labels"]["berth.dev/copy-of"] == base
    assert f"Namespace `{target}`" in (tmp_path / "runner" / "summary.md").read_text()

    run_job(workflow, "down", values, {"BASE_NAMESPACE": base}, tmp_path)
    assert previews.get(base, "pr-7") is None  # kubectl delete waited for the teardown
    assert previews.environment(target) is None
    wait_for(lambda: not previews.namespace_exists(target), 60, f"namespace {target} gone")
    assert not refusals(scene.operator.log_path.read_text(), scene.own_namespaces() | {target})
