"""`berth run`'s flags are the operator's settings, declared once (OperatorConfig).

Every setting is a flag with its environment variable and default in `berth run --help`;
the variables and flags land in the config; the chart's `operator:` values map onto real
flags; and the CRD files have one writer, `berth crds`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import berth.api.crdgen
from berth.cli import build_parser, main
from berth.cli.run import add_flags, config_from
from berth.handlers.config import Flag, OperatorConfig, derived_settings, flags, setting

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "berth"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for flag in flags():
        monkeypatch.delenv(flag.env, raising=False)
    monkeypatch.delenv("POD_ID", raising=False)
    return monkeypatch


def run_help(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """`berth run --help`, one entry per option: flag -> its help, whitespace folded."""
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    options = text.split("\noptions:\n", 1)[1]
    entries: dict[str, str] = {}
    current = ""
    for line in options.splitlines():
        match = re.match(r"  (--[a-z-]+)", line)
        if match:
            current = match.group(1)
        if current:
            entries[current] = f"{entries.get(current, '')} {line.strip()}".strip()
    return {flag: " ".join(help_text.split()) for flag, help_text in entries.items()}


def test_every_setting_is_a_flag_or_derived() -> None:
    names = [field.name for field in dataclasses.fields(OperatorConfig)]
    declared = [flag.name for flag in flags()] + list(derived_settings())
    assert sorted(declared) == sorted(names)
    assert set(derived_settings()) == {"standalone", "identity"}
    assert len({flag.flag for flag in flags()}) == len(flags())
    assert len({flag.env for flag in flags()}) == len(flags())


def test_run_help_lists_every_setting_with_its_variable_and_default(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = run_help(capsys)
    assert set(entries) == {flag.flag for flag in flags()}
    for flag in flags():
        entry = entries[flag.flag]
        shown = None if flag.optional else flag.default
        assert f"({flag.env}" in entry or f"{flag.env}," in entry, entry
        assert entry.endswith(f"(default: {shown})"), entry
        assert "{env}" not in entry
        if flag.choices:
            assert entry.startswith(f"{flag.flag} {{{','.join(flag.choices)}}}")
    assert entries["--workers"].endswith(
        "(BERTH_WORKERS); the API load is bounded by the API "
        "server's answers, not by this (default: 32)"
    )
    assert "(KUBECONFIG)" in entries["--kubeconfig"]


def _a_value(flag: Flag) -> tuple[str, Any]:
    """A value for the setting other than its default: (as text, as the config holds it)."""
    if flag.choices:
        return flag.choices[-1], flag.choices[-1]
    if flag.type is bool:
        return "true", True
    if flag.type is int:
        return "7", 7
    if flag.type is float:
        return "2.5", 2.5
    if flag.repeatable:
        return "a,b", ("a", "b")
    return "somename", "somename"


def test_each_variable_sets_its_setting_and_shows_as_the_default(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {}
    for flag in flags():
        text, value = _a_value(flag)
        clean_env.setenv(flag.env, text)
        expected[flag.name] = value
    config = config_from(build_parser().parse_args(["run"]))
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.standalone is False  # BERTH_PEERING names a peering
    entries = run_help(capsys)
    for flag in flags():
        if not flag.repeatable:  # the namespaces' variable is read after parsing
            assert entries[flag.flag].endswith(f"(default: {expected[flag.name]})")


def test_flags_set_their_settings_and_win_over_variables(clean_env: pytest.MonkeyPatch) -> None:
    argv, expected = ["run"], {}
    for flag in flags():
        clean_env.setenv(flag.env, _a_value(flag)[0])
        if flag.repeatable:
            argv += [f"{flag.flag}=x", f"{flag.flag}=y"]
            expected[flag.name] = ("x", "y")
            continue
        if flag.type is bool:  # a switch: the variable says off, the flag turns it on
            clean_env.setenv(flag.env, "0")
            argv.append(flag.flag)
            expected[flag.name] = True
            continue
        if flag.choices:
            given = flag.choices[0]
        elif flag.type is not None:
            given = "9"
        else:
            given = "other"
        argv.append(f"{flag.flag}={given}")
        expected[flag.name] = flag.type(given) if flag.type is not None else given
    config = config_from(build_parser().parse_args(argv))
    assert {name: getattr(config, name) for name in expected} == expected


def test_no_flag_no_variable_is_the_dataclass_default(clean_env: pytest.MonkeyPatch) -> None:
    config = config_from(build_parser().parse_args(["run"]))
    defaults = OperatorConfig()
    for field in dataclasses.fields(OperatorConfig):
        if field.name != "identity":
            assert getattr(config, field.name) == getattr(defaults, field.name), field.name
    assert config.standalone is True
    assert config.identity.startswith("berth@")
    clean_env.setenv("POD_ID", "berth-7d9f-abcde")
    assert config_from(build_parser().parse_args(["run"])).identity == "berth-7d9f-abcde"


@pytest.mark.parametrize(
    ("argv", "standalone", "peering"),
    [
        ([], True, "berth"),
        (["--peering=team"], False, "team"),
        (["--peering="], False, "berth"),  # an empty name is the default peering's
    ],
)
def test_peering_makes_a_replica_not_standalone(
    clean_env: pytest.MonkeyPatch, argv: list[str], standalone: bool, peering: str
) -> None:
    config = config_from(build_parser().parse_args(["run", *argv]))
    assert (config.standalone, config.peering) == (standalone, peering)


def test_namespaces_flags_replace_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BERTH_NAMESPACES", "a,,b")
    assert config_from(build_parser().parse_args(["run"])).namespaces == ("a", "b")
    given = build_parser().parse_args(["run", "--namespace", "z"])
    assert config_from(given).namespaces == ("z",)


def _chart_flags() -> dict[str, str]:
    """values.yaml `operator:` key -> the `berth run` flag the Deployment template passes."""
    mapped: dict[str, str] = {}
    ranged = None
    template = (CHART / "templates" / "deployment.yaml").read_text()
    for line in template.splitlines():
        loop = re.search(r"range \$op\.(\w+)", line)
        if loop:
            ranged = loop.group(1)
        elif re.search(r"\{\{-? end", line):
            ranged = None
        flag = re.search(r'printf "(--[a-z-]+)=%\w"', line)
        if flag is None:
            continue
        key = re.search(r"\$op\.(\w+)", line)
        if key:
            mapped[key.group(1)] = flag.group(1)
        elif ranged:
            mapped[ranged] = flag.group(1)
    return mapped


def test_the_charts_operator_values_map_onto_real_flags() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    mapped = _chart_flags()
    assert set(mapped) == set(values["operator"])
    real = {flag.flag for flag in flags()}
    assert set(mapped.values()) <= real, set(mapped.values()) - real


def test_every_flag_the_chart_passes_is_a_real_flag() -> None:
    template = (CHART / "templates" / "deployment.yaml").read_text()
    passed = set(re.findall(r'printf "(--[a-z-]+)=', template))
    passed |= set(re.findall(r'exec berth "\$@" (--[a-z-]+)=', template))
    assert {"--workers", "--peering", "--priority"} <= passed
    real = {flag.flag for flag in flags()}
    assert passed <= real, passed - real


def test_make_crds_runs_the_one_crd_writer() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ncrds:", 1)[1].split("\n\n", 1)[0]
    assert "-m berth crds --out crds/" in recipe
    assert not hasattr(berth.api.crdgen, "main")


def test_the_manual_lists_every_flag_with_its_variable() -> None:
    page = (ROOT / "docs" / "operations" / "configuration.md").read_text()
    table = page.split("Every flag has an environment variable:", 1)[1].split("\n\n", 2)[1]
    rows = [row for row in table.splitlines() if row.startswith("| `--")]
    for flag in flags():
        (row,) = [row for row in rows if f"`{flag.flag}`" in row.split("|")[1]]
        flags_in_row = re.findall(r"`(--[a-z-]+)`", row.split("|")[1])
        variables = re.findall(r"`([A-Z_]+)`", row.split("|")[2])
        assert variables[flags_in_row.index(flag.flag)] == flag.env, row


@dataclasses.dataclass(frozen=True)
class Sample:
    """A switch and a setting whose variable has a fallback, on names this test owns."""

    verbose_writes: bool = setting(False, "log every write ({env})")
    lease_namespace: str = setting(
        "default", "where Leases live ({env}); else POD_NAMESPACE", fallback_env=("POD_NAMESPACE",)
    )


def sample_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_flags(parser, flags(Sample))
    return parser


def test_a_bool_setting_is_a_switch_its_variable_turns_on(clean_env: pytest.MonkeyPatch) -> None:
    for name in ("BERTH_VERBOSE_WRITES", "BERTH_LEASE_NAMESPACE", "POD_NAMESPACE"):
        clean_env.delenv(name, raising=False)
    assert sample_parser().parse_args([]).verbose_writes is False
    assert sample_parser().parse_args(["--verbose-writes"]).verbose_writes is True
    for text, on in (("1", True), ("true", True), ("0", False), ("", False)):
        clean_env.setenv("BERTH_VERBOSE_WRITES", text)
        assert sample_parser().parse_args([]).verbose_writes is on, text


def test_a_fallback_variable_is_read_when_the_own_one_is_unset_or_empty(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for name in ("BERTH_LEASE_NAMESPACE", "POD_NAMESPACE"):
        clean_env.delenv(name, raising=False)
    assert sample_parser().parse_args([]).lease_namespace == "default"
    clean_env.setenv("BERTH_LEASE_NAMESPACE", "")
    assert sample_parser().parse_args([]).lease_namespace == "default"
    clean_env.setenv("POD_NAMESPACE", "berth-system")
    assert sample_parser().parse_args([]).lease_namespace == "berth-system"
    clean_env.setenv("BERTH_LEASE_NAMESPACE", "leases")
    assert sample_parser().parse_args([]).lease_namespace == "leases"
    assert sample_parser().parse_args(["--lease-namespace=x"]).lease_namespace == "x"


def test_a_switch_on_by_default_is_refused() -> None:
    @dataclasses.dataclass
    class Wrong:
        on: bool = setting(True, "cannot be turned off ({env})")

    with pytest.raises(TypeError, match="off by default"):
        flags(Wrong)


@pytest.mark.parametrize(
    ("env", "text"), [("BERTH_WORKERS", "abc"), ("BERTH_RESYNC_SECONDS", "5m")]
)
def test_a_variable_set_wrong_is_named_not_a_traceback(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str, text: str
) -> None:
    clean_env.setenv(env, text)
    with pytest.raises(SystemExit) as exited:
        build_parser()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"{env}={text!r} is not a valid" in err
    assert "Traceback" not in err
