"""The README's Argo CD section shows what the Argo CD e2e test really runs."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.argocdharness import WAVE_ANNOTATION

REPO_ROOT = Path(__file__).resolve().parents[2]
APPLICATION = REPO_ROOT / "examples" / "argocd" / "application.yaml"


def _argocd_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Argo CD\n")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_readme_shows_the_application_the_e2e_test_syncs() -> None:
    assert f"```yaml\n{APPLICATION.read_text(encoding='utf-8')}```" in _argocd_section(), (
        "README.md's Argo CD section must show examples/argocd/application.yaml verbatim"
    )


def test_the_application_needs_no_ignore_differences() -> None:
    app = yaml.safe_load(APPLICATION.read_text(encoding="utf-8"))
    assert app["kind"] == "Application"
    assert "ignoreDifferences" not in app["spec"]
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_the_readme_documents_the_sync_wave_the_e2e_test_uses() -> None:
    assert f'{WAVE_ANNOTATION}: "-1"' in _argocd_section()
