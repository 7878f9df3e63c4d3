"""The release workflow and the scripts it calls, as far as they can be checked here.

The workflow itself runs only on the forge (a tag, an outside registry, arm64 builders);
here it is linted with actionlint (and shellcheck for its `run:` steps), its scripts are
run, and ``hack/chart-package.sh`` is checked on its own (``hack/chart-push.sh`` is
used against a real registry on loopback in tests/e2e/test_image.py). No cluster needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import berth
from tests.clusterharness import BIN_DIR, REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "release.yml"
HACK_SCRIPT = re.compile(r"hack/[\w.-]+\.(?:sh|py)")


def lint(*files: Path) -> subprocess.CompletedProcess[str]:
    """hack/lint-workflows.sh (which builds actionlint when missing): the repository's
    workflows, or FILES."""
    return subprocess.run(
        [str(REPO_ROOT / "hack" / "lint-workflows.sh"), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=900,
        env={**os.environ, "BERTH_BIN_DIR": str(BIN_DIR)},
    )


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def test_actionlint_passes() -> None:
    proc = lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The lint is not a formality: a typo in an expression, an unknown input of a known
    action and a shell bug are each reported."""
    broken = WORKFLOW.read_text()
    broken = broken.replace("steps.image.outputs.digest", "steps.imag.outputs.digest")
    broken = broken.replace("platforms: linux/amd64", "platform: linux/amd64")
    broken = broken.replace(
        'cosign sign --yes "$IMAGE@$DIGEST"', "cosign sign --yes $IMAGE@$DIGEST"
    )
    path = tmp_path / "release.yml"
    path.write_text(broken)
    proc = lint(path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "imag" in proc.stdout
    assert '"platform"' in proc.stdout
    assert "SC2086" in proc.stdout  # shellcheck: unquoted variable


def test_the_workflow_builds_multi_arch_signs_and_attaches_an_sbom() -> None:
    steps = [step for job in workflow()["jobs"].values() for step in job["steps"]]
    (build,) = [s for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action")]
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True
    assert build["with"]["push"] is True
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    assert runs.count("cosign sign --yes") == 2  # the image, and each chart in a loop
    assert '"--image-repository $IMAGE" "--crds"' in runs  # the charts: berth, berth-crds
    assert "hack/version.sh --check-tag" in runs
    assert workflow()["jobs"]["publish"]["needs"] == "test"
    assert workflow()["jobs"]["publish"]["permissions"]["id-token"] == "write"
    # Triggered by a tag only ("on" is YAML 1.1's True for PyYAML).
    assert workflow()[True] == {"push": {"tags": ["v*"]}}


def test_the_workflow_names_no_registry() -> None:
    """The registry comes from the repository variable REGISTRY, never a literal."""
    assert workflow()["env"]["REGISTRY"] == "${{ vars.REGISTRY }}"
    for step in (s for job in workflow()["jobs"].values() for s in job["steps"]):
        with_ = step.get("with") or {}
        if "registry" in with_:
            assert with_["registry"] == "${{ env.REGISTRY }}"


def test_every_script_the_workflow_calls_exists_and_answers_help() -> None:
    runs = "\n".join(
        str(step.get("run", "")) for job in workflow()["jobs"].values() for step in job["steps"]
    )
    scripts = sorted(set(HACK_SCRIPT.findall(runs)))
    assert scripts == ["hack/chart-package.sh", "hack/chart-push.sh", "hack/version.sh"]
    for script in scripts:
        path = REPO_ROOT / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        proc = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout


def test_chart_package_names_the_image_and_the_version(tmp_path: Path) -> None:
    helm = BIN_DIR / "helm"
    if not helm.exists():
        pytest.fail(f"{helm} is missing: run `make tools` first", pytrace=False)
    values_before = (REPO_ROOT / "charts" / "berth" / "values.yaml").read_text()
    proc = subprocess.run(
        [
            str(REPO_ROOT / "hack" / "chart-package.sh"),
            "--image-repository",
            "127.0.0.1:5000/acme/berth",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    package = Path(proc.stdout.strip())
    assert package == tmp_path / f"berth-{berth.__version__}.tgz"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HELM_CONFIG_HOME"] = env["HELM_CACHE_HOME"] = env["HELM_DATA_HOME"] = str(tmp_path)

    def show(what: str) -> dict[str, Any]:
        out = subprocess.run(
            [str(helm), "show", what, str(package)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        shown: dict[str, Any] = yaml.safe_load(out)
        return shown

    chart = show("chart")
    assert (chart["version"], chart["appVersion"]) == (berth.__version__, berth.__version__)
    image = show("values")["image"]
    assert (image["repository"], image["tag"]) == ("127.0.0.1:5000/acme/berth", "")
    rendered = subprocess.run(
        [str(helm), "template", "berth", str(package)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    (deployment,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"127.0.0.1:5000/acme/berth:{berth.__version__}"
    # The checkout's chart is left as it was.
    assert (REPO_ROOT / "charts" / "berth" / "values.yaml").read_text() == values_before


def test_chart_package_packages_the_crd_chart_of_the_same_version(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO_ROOT / "hack" / "chart-package.sh"), "--crds", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    package = Path(proc.stdout.strip())
    assert package == tmp_path / f"berth-crds-{berth.__version__}.tgz"
    with tarfile.open(package) as archive:
        chart = yaml.safe_load(archive.extractfile("berth-crds/Chart.yaml").read())  # type: ignore[union-attr]
        files = sorted(n for n in archive.getnames() if n.startswith("berth-crds/files/"))
    assert (chart["version"], chart["appVersion"]) == (berth.__version__, berth.__version__)
    assert [Path(f).name for f in files] == sorted(
        p.name for p in (REPO_ROOT / "crds").glob("*.yaml")
    )


@pytest.mark.parametrize(
    "repository", ["", "Upper/berth", "host/berth:1.0", "host/berth@sha256:00", "a//b"]
)
def test_chart_package_refuses_what_is_not_an_image_repository(
    repository: str, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            str(REPO_ROOT / "hack" / "chart-package.sh"),
            "--image-repository",
            repository,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "chart-package.sh:" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_chart_push_refuses_a_target_that_is_not_oci(tmp_path: Path) -> None:
    package = tmp_path / "berth.tgz"
    package.write_bytes(b"")
    proc = subprocess.run(
        [str(REPO_ROOT / "hack" / "chart-push.sh"), str(package), "http://127.0.0.1/x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "must be an oci:// URL" in proc.stderr


PREVIEW_RECIPE = REPO_ROOT / "examples" / "previews" / "github-actions" / "preview.yml"


def test_the_preview_recipe_passes_actionlint_and_a_broken_one_does_not(tmp_path: Path) -> None:
    """The manual's GitHub Actions recipe for previews is linted like the release
    workflow (`make lint-workflows` lints it too; tests/e2e/test_preview_rbac.py runs it)."""
    proc = lint(PREVIEW_RECIPE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "preview.yml"
    text = PREVIEW_RECIPE.read_text()
    text = text.replace(
        '-n "$BASE_NAMESPACE" --ignore-not-found', "-n $BASE_NAMESPACE --ignore-not-found"
    )
    text = text.replace("secrets.PREVIEW_KUBE_TOKEN", "secret.PREVIEW_KUBE_TOKEN", 1)
    broken.write_text(text)
    proc = lint(broken)
    assert proc.returncode != 0
    assert 'undefined variable "secret"' in proc.stdout
    assert "SC2086" in proc.stdout
