"""The Argo CD health checks of charts/berth/argocd, run the way Argo CD runs them.

Argo CD evaluates a health script in a Lua 5.1 VM (gopher-lua): the live object is
the global table ``obj``, and the script returns a table ``{status=..., message=...}``.
Here the same script runs in Lua 5.1 (lupa) with the same contract, against
statuses the real operator wrote (copied from a live cluster) and statuses Berth's own
status code computes.

``evaluate_health`` and ``load_fixtures`` are meant to be imported by other tests,
e.g. one that feeds the statuses of live objects through the same scripts.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from berth.problems import Problem
from berth.render.status import Observed, environment_status, workload_status
from tests import manual

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "berth"
ARGOCD_DIR = CHART_DIR / "argocd"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "argocd"
HEALTH_SCRIPTS = {
    "Workload": ARGOCD_DIR / "workload-health.lua",
    "Environment": ARGOCD_DIR / "environment-health.lua",
    "Preview": ARGOCD_DIR / "preview-health.lua",
}
# The health statuses Argo CD knows.
ARGO_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})
# Globals Argo CD's VM does not offer (or offers only in a reduced form); a script that
# needs them would work here and fail there.
UNSAFE_GLOBALS = ("io", "os", "python", "dofile", "loadfile")


def _to_python(value: Any) -> Any:
    if lua51.lua_type(value) == "table":
        return {k: _to_python(v) for k, v in value.items()}
    return value


def evaluate_health(lua_path: Path | str, obj_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Run one health script on one object; return the table it returns, as a dict."""
    script = Path(lua_path).read_text(encoding="utf-8")
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    env = lua.globals()
    for name in UNSAFE_GLOBALS:
        env[name] = None
    env.obj = lua.table_from(dict(obj_dict), recursive=True)
    result = lua.execute(script)
    health = _to_python(result)
    if not isinstance(health, dict):
        raise TypeError(f"{lua_path} returned {result!r}, not a table")
    return health


def health_of(obj_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The health of a Workload or Environment, by the script for its kind."""
    return evaluate_health(HEALTH_SCRIPTS[obj_dict["kind"]], obj_dict)


@dataclass(frozen=True)
class HealthFixture:
    """An object with a status, and the health Argo CD must derive from it."""

    name: str
    description: str
    expected: dict[str, str]
    obj: dict[str, Any]


def load_fixtures(directory: Path = FIXTURES_DIR) -> list[HealthFixture]:
    """Every ``*.yaml`` in the directory: ``description``, ``expected``, ``object``."""
    fixtures = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        fixtures.append(
            HealthFixture(
                name=path.stem,
                description=str(doc.get("description", "")),
                expected=dict(doc["expected"]),
                obj=dict(doc["object"]),
            )
        )
    return fixtures


FIXTURES = load_fixtures()


def test_there_are_fixtures_for_both_kinds_and_every_verdict() -> None:
    seen = {(f.obj["kind"], f.expected["status"]) for f in FIXTURES}
    for kind in HEALTH_SCRIPTS:
        for status in ("Healthy", "Progressing", "Degraded"):
            assert (kind, status) in seen, f"no fixture of a {status} {kind}"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_fixture_health(fixture: HealthFixture) -> None:
    health = health_of(fixture.obj)
    assert health == fixture.expected, fixture.description
    assert health["status"] in ARGO_STATUSES


# -- the rules, one by one ------------------------------------------------------------


def _conditions(**statuses: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {"type": t, "status": s, "reason": r, "message": m} for t, (s, r, m) in statuses.items()
    ]


def _obj(kind: str, generation: int | None, status: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x"}
    if generation is not None:
        meta["generation"] = generation
    obj: dict[str, Any] = {"apiVersion": "berth.dev/v1alpha1", "kind": kind, "metadata": meta}
    if status is not None:
        obj["status"] = status
    return obj


READY = ("True", "Ready", "2 of 2 replicas available")
STALLED = ("True", "ImageNotAllowed", "image not allowed")
NOT_STALLED = ("False", "Ready", "nothing to do")


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_no_observed_generation_is_progressing_whatever_the_conditions(kind: str) -> None:
    status = {"conditions": _conditions(Ready=READY, Stalled=STALLED)}
    assert health_of(_obj(kind, 1, status))["status"] == "Progressing"


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_a_lagging_observed_generation_is_progressing(kind: str) -> None:
    status = {"observedGeneration": 2, "conditions": _conditions(Ready=READY, Stalled=STALLED)}
    assert health_of(_obj(kind, 3, status)) == {
        "status": "Progressing",
        "message": "Waiting for Berth to observe generation 3",
    }


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_stalled_wins_over_ready(kind: str) -> None:
    status = {"observedGeneration": 3, "conditions": _conditions(Ready=READY, Stalled=STALLED)}
    assert health_of(_obj(kind, 3, status)) == {
        "status": "Degraded",
        "message": "image not allowed",
    }


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_ready_and_not_stalled_is_healthy(kind: str) -> None:
    status = {"observedGeneration": 1, "conditions": _conditions(Ready=READY, Stalled=NOT_STALLED)}
    assert health_of(_obj(kind, 1, status)) == {
        "status": "Healthy",
        "message": "2 of 2 replicas available",
    }


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_no_ready_condition_is_progressing(kind: str) -> None:
    status = {"observedGeneration": 1, "conditions": []}
    assert health_of(_obj(kind, 1, status)) == {
        "status": "Progressing",
        "message": "Waiting for the Ready condition",
    }


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_an_empty_message_falls_back_to_the_reason(kind: str) -> None:
    status = {
        "observedGeneration": 1,
        "conditions": _conditions(Ready=("False", "RollingOut", ""), Stalled=NOT_STALLED),
    }
    assert health_of(_obj(kind, 1, status)) == {"status": "Progressing", "message": "RollingOut"}


# -- whatever berth.render.status writes, the verdict follows kstatus -------------------


def _deployment(replicas: int, updated: int, available: int, deadline: bool) -> dict[str, Any]:
    progressing = (
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        if deadline
        else {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    )
    return {
        "metadata": {"name": "web", "generation": 1},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": updated,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [progressing],
        },
    }


WORKLOAD_SCENARIOS = {
    "no deployment yet": Observed(generation=1, environment="e", desired_replicas=2),
    "rolling out": Observed(
        generation=1, environment="e", deployment=_deployment(2, 1, 0, False), desired_replicas=2
    ),
    "unavailable": Observed(
        generation=1, environment="e", deployment=_deployment(2, 2, 1, False), desired_replicas=2
    ),
    "ready": Observed(
        generation=1, environment="e", deployment=_deployment(2, 2, 2, False), desired_replicas=2
    ),
    "deadline": Observed(
        generation=1, environment="e", deployment=_deployment(2, 2, 0, True), desired_replicas=2
    ),
    "invalid": Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "bad")),
    "invalid while running": Observed(
        generation=1,
        environment="e",
        problem=Problem("ImageNotAllowed", "no"),
        deployment=_deployment(2, 2, 2, False),
    ),
    "waiting for resources": Observed(
        generation=1,
        environment="e",
        resources_problem=Problem("OutputsUnavailable", "waiting for the outputs of 'db'"),
    ),
}


def _kstatus_verdict(status: Mapping[str, Any]) -> str:
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    if conditions.get("Stalled") == "True":
        return "Degraded"
    if conditions.get("Ready") == "True":
        return "Healthy"
    return "Progressing"


@pytest.mark.parametrize("scenario", sorted(WORKLOAD_SCENARIOS))
def test_workload_statuses_from_the_status_code(scenario: str) -> None:
    status = workload_status(WORKLOAD_SCENARIOS[scenario], None, "2026-01-01T00:00:00Z")
    health = health_of(_obj("Workload", 1, status))
    assert health["status"] == _kstatus_verdict(status)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    expected_message = stalled["message"] if health["status"] == "Degraded" else ready["message"]
    assert health["message"] == expected_message


@pytest.mark.parametrize(
    ("namespace_ready", "problem"),
    [(True, None), (False, None), (False, Problem("NamespaceTaken", "taken"))],
)
def test_environment_statuses_from_the_status_code(
    namespace_ready: bool, problem: Problem | None
) -> None:
    status = environment_status(
        generation=4,
        namespace="ns",
        namespace_ready=namespace_ready,
        problem=problem,
        workloads=3,
        ready_workloads=1,
        previous=None,
        now="2026-01-01T00:00:00Z",
    )
    assert health_of(_obj("Environment", 4, status))["status"] == _kstatus_verdict(status)


# -- the chart's README and the manual carry the same scripts --------------------------


def _readme() -> str:
    return (CHART_DIR / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", sorted(HEALTH_SCRIPTS))
def test_the_manual_shows_each_script_verbatim(kind: str) -> None:
    script = HEALTH_SCRIPTS[kind].read_text(encoding="utf-8")
    shown = textwrap.indent(f"```lua\n{script}```", "    ")
    assert shown in manual.page("how-to/platform/argocd.md"), (
        f"docs/how-to/platform/argocd.md does not show {HEALTH_SCRIPTS[kind].name} verbatim"
    )


def test_the_manual_shows_the_readme_argocd_cm() -> None:
    cm = re.search(r"```yaml\n(?:(?!```).)*name: argocd-cm\n.*?```", _readme(), flags=re.DOTALL)
    assert cm is not None
    assert cm[0] in manual.page("how-to/platform/argocd.md")


def test_the_readme_argocd_cm_carries_the_scripts() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _readme(), flags=re.DOTALL)
    configmaps = [
        doc
        for block in blocks
        for doc in [yaml.safe_load(block)]
        if isinstance(doc, dict) and doc.get("metadata", {}).get("name") == "argocd-cm"
    ]
    assert len(configmaps) == 1, "the README should show one argocd-cm"
    data = configmaps[0]["data"]
    for kind, path in HEALTH_SCRIPTS.items():
        key = f"resource.customizations.health.berth.dev_{kind}"
        assert data.get(key) == path.read_text(encoding="utf-8"), f"{key} differs from {path.name}"
