"""The manual's Argo CD page shows what the Argo CD e2e test really runs."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.argocdharness import WAVE_ANNOTATION
from tests.manual import page

REPO_ROOT = Path(__file__).resolve().parents[2]
APPLICATION = REPO_ROOT / "examples" / "argocd" / "application.yaml"
ARGOCD_PAGE = "how-to/platform/argocd.md"


def test_the_manual_shows_the_application_the_e2e_test_syncs() -> None:
    assert f"```yaml\n{APPLICATION.read_text(encoding='utf-8')}```" in page(ARGOCD_PAGE), (
        f"docs/{ARGOCD_PAGE} must show examples/argocd/application.yaml verbatim"
    )


def test_the_application_needs_no_ignore_differences() -> None:
    app = yaml.safe_load(APPLICATION.read_text(encoding="utf-8"))
    assert app["kind"] == "Application"
    assert "ignoreDifferences" not in app["spec"]
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_the_manual_documents_the_sync_wave_the_e2e_test_uses() -> None:
    assert f'{WAVE_ANNOTATION}: "-1"' in page(ARGOCD_PAGE)
