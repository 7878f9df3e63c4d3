"""One version, in one place: ``__version__`` in operator/berth/__init__.py.

Everything else that shows a version reads it from there (pyproject.toml through
setuptools' ``attr:``, ``berth --version``, hack/version.sh and so the image's
``org.opencontainers.image.version`` label and the packaged chart) or is checked
against it here (the chart's Chart.yaml, which Helm needs literally)."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import yaml

import berth
from berth.cli import main
from tests.clusterharness import REPO_ROOT

VERSION = berth.__version__
# PEP 440, the subset a release uses: 1.2.3, 1.2.3rc1, 1.2.3.dev4 (also a valid SemVer
# core for Helm when it is a plain 1.2.3).
PEP440 = re.compile(r"^\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?$")


def test_the_version_is_a_release_version() -> None:
    assert PEP440.match(VERSION), VERSION


def test_pyproject_takes_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"], "the version belongs in berth/__init__.py"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "berth.__version__"}


def test_the_version_string_is_written_once() -> None:
    """No other file under operator/ spells the version out."""
    init = REPO_ROOT / "operator" / "berth" / "__init__.py"
    spelled = [
        path
        for path in (REPO_ROOT / "operator").rglob("*.py")
        if path != init and f'"{VERSION}"' in path.read_text()
    ]
    assert spelled == []


def test_berth_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"berth {VERSION}"


def test_the_chart_app_version_is_it() -> None:
    chart = yaml.safe_load((REPO_ROOT / "charts" / "berth" / "Chart.yaml").read_text())
    assert chart["appVersion"] == VERSION, (
        "charts/berth/Chart.yaml appVersion must equal berth.__version__"
    )
    # The chart is released with the operator: one version for both.
    assert chart["version"] == VERSION, "charts/berth/Chart.yaml version must equal it too"


def test_hack_version_sh_reads_it() -> None:
    script = REPO_ROOT / "hack" / "version.sh"
    out = subprocess.run([script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == VERSION
    tag = subprocess.run([script, "--tag"], capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(rf"{re.escape(VERSION)}-g[0-9a-f]{{12}}(-dirty)?\n", tag), tag


def test_hack_version_sh_checks_a_release_tag() -> None:
    script = REPO_ROOT / "hack" / "version.sh"
    ok = subprocess.run([script, "--check-tag", f"v{VERSION}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == VERSION
    bad = subprocess.run([script, "--check-tag", "v0.0.0-other"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"does not match the version {VERSION}" in bad.stderr


def test_the_image_labels_take_the_version_from_the_build() -> None:
    """The Dockerfile spells no version: VERSION is a build argument (hack/image.sh and
    the release workflow pass hack/version.sh's), and the build fails without it."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert VERSION not in dockerfile
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
    assert re.search(r"^ARG VERSION$", dockerfile, re.MULTILINE)
    assert 'test -n "$VERSION"' in dockerfile


def test_the_local_base_is_the_dockerfiles_debian() -> None:
    """hack/image.sh's debootstrap base and the Dockerfile's default base are one Debian
    release, so both give the same Python."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    image_sh = (REPO_ROOT / "hack" / "image.sh").read_text()
    (suite,) = re.findall(r"^DEBIAN_SUITE=(\w+)$", image_sh, re.MULTILINE)
    assert f"ARG BASE_IMAGE=debian:{suite}-slim" in dockerfile
