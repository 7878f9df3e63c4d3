"""The README front page and the manual's build: the commands the README gives are the
ones CI runs, its links and the chart README's land on real pages and anchors, and the
manual's hooks generate the reference and refuse malformed external links.

`make docs` itself (run by CI) checks every link inside the manual.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from tests.manual import anchors

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHART_README = ROOT / "charts" / "berth" / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "hack" / "docs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quick_start_commands() -> list[str]:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "the README's quick start has no commands"
    return [line.split("#", 1)[0].strip() for line in block[1].splitlines() if line[:1].isalpha()]


def test_the_readme_gives_two_commands_and_ci_runs_its_test_command() -> None:
    assert quick_start_commands() == ["make dev", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "make test" in ci
    assert ci.index("make docs") < ci.index("make test"), "CI builds the manual before the tests"


def test_make_docs_builds_strictly() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "mkdocs build --strict" in recipe
    config = load_config(str(ROOT / "mkdocs.yml"))
    assert config["strict"] is True
    proofer = config["plugins"]["htmlproofer"].config
    assert proofer["validate_external_urls"] is False  # CI reaches no web site: see mkdocs.yml
    assert proofer["raise_error_after_finish"] is True


@pytest.mark.parametrize("readme", [README, CHART_README], ids=["README", "chart README"])
def test_relative_links_land_on_files_and_anchors(readme: Path) -> None:
    checked = 0
    for target in LINK.findall(readme.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (readme.parent / path).resolve() if path else readme
        assert resolved.is_file(), f"{readme.name}: {target} is not a file"
        if anchor:
            assert anchor in anchors(resolved.read_text(encoding="utf-8")), (
                f"{readme.name}: {target}: no such anchor"
            )
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://kopf.readthedocs.io", None),
        ("https://score.dev/docs/x?y=1#z", None),
        ("mailto:dev@berth.dev", None),
        ("../concepts/", None),
        ("#spec.replicas", None),
        ("https://score dev", "contains whitespace"),
        ("htps://score.dev", "scheme 'htps' is not http(s) or mailto"),
        ("https://localhost/x", "host 'localhost' is not a domain name"),
        ("https://score.dev:port/", "bad port"),
        ("mailto:nobody", "bad address"),
    ],
)
def test_external_links_are_checked_for_their_form(url: str, problem: str | None) -> None:
    assert hooks().external_link_problem(url) == problem


def config() -> Any:
    return load_config(str(ROOT / "mkdocs.yml"))


def test_the_reference_is_generated_into_the_site() -> None:
    settings = config()
    files = settings.plugins.on_files(Files([]), config=settings)  # the hooks, as MkDocs runs them
    generated = {file.src_uri: file for file in files}
    assert set(generated) == {
        "reference/workload.md",
        "reference/environment.md",
        "reference/clusterprovisioner.md",
        "reference/preview.md",
        "reference/workloadrevision.md",
        "reference/promotion.md",
        "reference/promotionapproval.md",
    }
    assert generated["reference/workload.md"].content_string.startswith("# Workload\n")


def test_a_hand_written_reference_page_is_refused(tmp_path: Path) -> None:
    settings = config()
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "workload.md").write_text("# old\n", encoding="utf-8")
    stale = File("reference/workload.md", str(tmp_path), settings["site_dir"], True)
    with pytest.raises(PluginError, match="generated from crds/"):
        settings.plugins.on_files(Files([stale]), config=settings)
