"""The Python package: ``python -m build`` makes an sdist and a wheel, each installs into a
fresh virtualenv (dependencies from the package index), and the installed ``berth``
command works there, with the version of ``berth.__version__``.

No cluster needed; it is here, not in unit/, because it builds and installs (a minute or
so, most of it pip)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

import berth
from tests.clusterharness import REPO_ROOT

pytestmark = pytest.mark.timeout(900)

EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_build_names_both_after_the_version(dist: dict[str, Path]) -> None:
    version = berth.__version__
    assert dist["sdist"].name == f"berth-{version}.tar.gz"
    assert dist["wheel"].name == f"berth-{version}-py3-none-any.whl"


def test_the_wheel_holds_the_package_and_its_metadata(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"berth-{berth.__version__}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"berth-{berth.__version__}.dist-info/entry_points.txt")
    assert {
        "berth/__init__.py",
        "berth/cli/__init__.py",
        "berth/cli/trace/__init__.py",
        "berth/py.typed",
    } <= names
    assert not any(name.startswith(("tests/", "hack/")) for name in names)
    assert f"Version: {berth.__version__}\n" in metadata
    assert "Requires-Dist: kopf" in metadata
    assert b"berth = berth.cli:main" in entry_points
    # The licence pyproject.toml and the image label name, shipped with the package.
    assert "License-Expression: Apache-2.0" in metadata
    assert f"berth-{berth.__version__}.dist-info/licenses/LICENSE" in names
    # kubectl runs it as the plugin `kubectl berth`.
    assert b"kubectl-berth = berth.cli:main" in entry_points


def test_the_sdist_builds_from_its_own_files(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "operator/berth/__init__.py"} <= names


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_it_installs_into_a_fresh_venv_and_runs(
    kind: str, dist: dict[str, Path], tmp_path: Path
) -> None:
    bin_dir = _fresh_venv(tmp_path / "venv")
    _run([str(bin_dir / "pip"), "install", "--quiet", str(dist[kind])], cwd=tmp_path)
    # Outside the checkout, so that nothing but the installed package can be imported.
    berth_cmd = str(bin_dir / "berth")
    version = _run([berth_cmd, "--version"], cwd=tmp_path).stdout
    assert version.strip() == f"berth {berth.__version__}"

    crds = list(yaml.safe_load_all(_run([berth_cmd, "crds"], cwd=tmp_path).stdout))
    generated = [yaml.safe_load(p.read_text()) for p in (REPO_ROOT / "crds").glob("*.yaml")]
    assert sorted(c["metadata"]["name"] for c in crds if c) == sorted(
        c["metadata"]["name"] for c in generated
    )

    rendered = _run(
        [
            berth_cmd,
            "render",
            "-f",
            str(EXAMPLES / "checkout.yaml"),
            "-e",
            str(EXAMPLES / "environment.yaml"),
        ],
        cwd=tmp_path,
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert {"Deployment", "Service"} <= set(kinds), kinds
    # The installed command is the package in the venv, not the checkout.
    where = _run(
        [str(bin_dir / "python"), "-c", "import berth; print(berth.__file__)"], cwd=tmp_path
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where
