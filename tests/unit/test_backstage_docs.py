"""The Backstage docs show what the Backstage e2e test really runs."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "guides" / "backstage.md"
CHART_README = REPO_ROOT / "charts" / "berth" / "README.md"
APP_CONFIG = REPO_ROOT / "examples" / "backstage" / "app-config.yaml"
RBAC = REPO_ROOT / "examples" / "backstage" / "rbac.yaml"
VALUES = REPO_ROOT / "charts" / "berth" / "values.yaml"


def block(path: Path) -> str:
    return f"```yaml\n{path.read_text(encoding='utf-8')}```"


def test_the_guide_shows_the_app_config_and_rbac_the_e2e_test_uses() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    assert block(APP_CONFIG) in guide
    assert block(RBAC) in guide


def test_the_chart_readme_shows_the_same_app_config() -> None:
    readme = CHART_README.read_text(encoding="utf-8")
    section = readme[readme.index("\n## Backstage\n") :]
    assert block(APP_CONFIG) in section


def test_the_app_config_reads_the_service_the_chart_makes() -> None:
    config = yaml.safe_load(APP_CONFIG.read_text(encoding="utf-8"))
    port = yaml.safe_load(VALUES.read_text(encoding="utf-8"))["backstage"]["catalog"]["port"]
    host = f"berth-backstage.berth-system.svc:{port}"  # release berth in berth-system
    (location,) = config["catalog"]["locations"]
    assert location["target"] == f"http://{host}/backstage/catalog-info.yaml"
    assert config["backend"]["reading"]["allow"] == [{"host": host}]
    assert config["kubernetes"]["customResources"] == [
        {"group": "berth.dev", "apiVersion": "v1alpha1", "plural": "workloads"}
    ]


def test_the_readme_links_the_guide() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/guides/backstage.md)" in readme
