"""The policy's levels where people see them: `berth render` (stderr, exit codes), the
Workload's PolicyCompliant condition and its Event, and the parts the rules are built of
(image references, message templates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli import main
from berth.names import DEFAULT_IMAGE_DOMAIN
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.events import transitions
from berth.render.images import parse_image
from berth.render.policy import Finding
from berth.render.status import Observed, workload_status
from berth.render.wording import cel_fill, fill
from tests.unit.builders import environment_dict, workload_dict

NOW = "2024-01-01T00:00:00Z"


def write(tmp_path: Path, name: str, body: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def run_render(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policy: dict[str, Any], *flags: str
) -> tuple[int, str, str]:
    env = write(tmp_path, "env.yaml", environment_dict(policy=policy))
    wl = write(
        tmp_path,
        "wl.yaml",
        workload_dict(containers={"main": {"image": "registry.acme.dev/app"}}, replicas=2),
    )
    code = main(["render", "-f", wl, "-e", env, *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_fails_on_deny_and_lists_warn_and_audit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = {
        "disallowLatestTag": True,
        "requireDigest": True,
        "enforcement": {"disallowLatestTag": "Warn", "requireDigest": "Audit"},
    }
    code, out, err = run_render(capsys, tmp_path, policy)
    assert code == 0
    assert "kind: Deployment" in out
    wl = str(tmp_path / "wl.yaml")
    assert err.splitlines() == [
        f"{wl}: Audit: DigestRequired: container 'main' image 'registry.acme.dev/app' is not "
        "pinned by digest, which Environment 'team-a-dev' requires (policy.requireDigest); "
        "name the image by its digest, as <image>@sha256:<digest>",
        f"{wl}: Warn: LatestTagNotAllowed: container 'main' image 'registry.acme.dev/app' "
        "names no tag (which means latest), which Environment 'team-a-dev' does not allow "
        "(policy.disallowLatestTag); name a version tag or a digest",
    ]
    assert run_render(capsys, tmp_path, policy, "--fail-on", "warn")[0] == 3
    assert run_render(capsys, tmp_path, policy, "--fail-on", "audit")[0] == 3
    only_audit = {"requireDigest": True, "enforcement": {"requireDigest": "Audit"}}
    assert run_render(capsys, tmp_path, only_audit, "--fail-on", "warn")[0] == 0
    assert run_render(capsys, tmp_path, only_audit, "--fail-on", "audit")[0] == 3

    code, out, err = run_render(capsys, tmp_path, {"maxReplicas": 1})
    assert code == 1
    assert out == ""
    assert f"{wl}: ReplicasAboveLimit: replicas 2 is above the maximum of 1" in err


def finding(level: str, reason: str = Reason.DIGEST_REQUIRED, message: str = "m") -> Finding:
    return Finding("requireDigest", level, Problem(reason, message))  # type: ignore[arg-type]


def status_with(
    policy: list[Finding] | None, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    observed = Observed(generation=1, environment="team-a-dev", policy=policy)
    return workload_status(observed, previous, NOW)


def compliant(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status["conditions"] if c["type"] == "PolicyCompliant"), None)


def test_policy_compliant_says_each_rule_broken_with_its_level() -> None:
    assert compliant(status_with(None)) is None
    ok = compliant(status_with([]))
    assert ok is not None
    assert (ok["status"], ok["reason"]) == ("True", "Compliant")
    broken = compliant(status_with([finding("Warn", message="a"), finding("Audit", message="b")]))
    assert broken is not None
    assert (broken["status"], broken["reason"], broken["message"]) == (
        "False",
        "DigestRequired",
        "Warn: a; Audit: b",
    )
    # The last condition: after the kstatus ones and the finer ones.
    assert status_with([])["conditions"][-1]["type"] == "PolicyCompliant"


def test_a_broken_warn_or_audit_rule_is_an_event_once() -> None:
    clean = status_with([])
    warned = status_with([finding("Warn")], clean)
    [event] = transitions(clean, warned)
    assert (event.reason, event.message, event.warning) == ("DigestRequired", "Warn: m", True)
    assert transitions(warned, status_with([finding("Warn")], warned)) == []
    audited = status_with([finding("Audit")], warned)
    assert [e.message for e in transitions(warned, audited)] == ["Audit: m"]


@pytest.mark.parametrize(
    ("image", "qualified", "tag", "digest"),
    [
        ("nginx", f"{DEFAULT_IMAGE_DOMAIN}/library/nginx", None, None),
        ("acme/app:1", f"{DEFAULT_IMAGE_DOMAIN}/acme/app:1", "1", None),
        ("Acme/app", "Acme/app", None, None),
        ("localhost/app:2", "localhost/app:2", "2", None),
        ("registry.acme.dev:5000/app", "registry.acme.dev:5000/app", None, None),
        ("r.dev/a/b:t@sha256:00", "r.dev/a/b:t@sha256:00", "t", "sha256:00"),
        ("r.dev/a@", "r.dev/a@", None, ""),
    ],
)
def test_image_references_are_read_as_runtimes_read_them(
    image: str, qualified: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_image(image)
    assert (ref.qualified, ref.tag, ref.digest) == (qualified, tag, digest)
    assert not ref.pinned


def test_one_template_two_fillers() -> None:
    template = "container {name!q} has {what}, see {name}"
    assert fill(template, name="main", what="no tag") == "container 'main' has no tag, see main"
    assert cel_fill(template, {"name": "x", "what": "w"}) == (
        '"container \'" + (x) + "\' has " + (w) + ", see " + (x)'
    )
    assert cel_fill('say "hi"', {}) == '"say \\"hi\\""'
    with pytest.raises(ValueError, match="only !q"):
        fill("{name!r}", name="x")
