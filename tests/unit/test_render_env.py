"""Environment variables, command and args: secrets by reference, literal text kept literal."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from berth.reasons import Reason
from berth.render import RenderError, SecretRef, render_workload
from berth.render.env import escape_expansion, hidden_variable_names
from berth.render.outputs import Outputs
from tests.unit.builders import container, environment, workload

SECRET_VALUE = "s3cr3t-VALUE"
OUTPUTS: Outputs = {
    "db": {
        "host": "db.internal",
        "port": "5432",
        "username": "app",
        "password": SecretRef("db-conn", "password"),
        "ca.crt": SecretRef("db-tls", "ca.crt"),
        "b-c": SecretRef("other", "c2"),
    },
    "db-b": {"c": SecretRef("other", "c")},
}
RESOURCES = {"db": {"type": "postgres"}, "db-b": {"type": "x"}}


def k8s_expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion, as documented: $$ is $, $(NAME) is NAME's value when
    NAME is defined (else left as is), any other $ is literal."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "$" and index + 1 < len(text):
            following = text[index + 1]
            if following == "$":
                out.append("$")
                index += 2
                continue
            if following == "(":
                end = text.find(")", index + 2)
                if end >= 0:
                    name = text[index + 2 : end]
                    out.append(env.get(name, f"$({name})"))
                    index = end + 1
                    continue
                out.append("$(")
                index += 2
                continue
            out.append("$" + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def score_expand(text: str, values: Mapping[str, str]) -> str:
    """Score's substitution, as its reference implementation behaves: $$ is $, ${x} is x."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = text.index("}", index)
            out.append(values[text[index + 2 : end]])
            index = end + 1
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def container_env(variables: dict[str, str], **fields: Any) -> list[dict[str, Any]]:
    return render_main(variables, **fields)["env"]  # type: ignore[no-any-return]


def render_main(variables: dict[str, str], **fields: Any) -> dict[str, Any]:
    wl = workload(
        containers={"main": container(variables=variables, **fields)}, resources=RESOURCES
    )
    rendered = render_workload(wl, environment(), OUTPUTS)
    deployment = next(m for m in rendered.manifests if m["kind"] == "Deployment")
    main: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return main


def resolved_env(env: list[dict[str, Any]], secrets: Mapping[str, str]) -> dict[str, str]:
    """What the container sees, given secret values: Kubernetes resolves in order."""
    seen: dict[str, str] = {}
    for item in env:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            seen[item["name"]] = secrets[f"{ref['name']}/{ref['key']}"]
        else:
            seen[item["name"]] = k8s_expand(item["value"], seen)
    return seen


SECRETS = {
    "db-conn/password": SECRET_VALUE,
    "db-tls/ca.crt": "CA",
    "other/c": "C",
    "other/c2": "C2",
}


def test_the_expansion_model_matches_the_kubernetes_rules() -> None:
    env = {"A": "1"}
    assert k8s_expand("$(A)-$$(A)-$$$(A)-$(B)-$-$x-$", env) == "1-$(A)-$1-$(B)-$-$x-$"


def test_plain_and_non_secret_values() -> None:
    env = container_env(
        {"GREETING": "Hello from ${metadata.name}", "DB_HOST": "${resources.db.host}"}
    )
    assert env == [
        {"name": "DB_HOST", "value": "db.internal"},
        {"name": "GREETING", "value": "Hello from checkout"},
    ]


def test_a_whole_secret_placeholder_becomes_a_secret_key_ref() -> None:
    env = container_env({"DB_PASSWORD": "${resources.db.password}"})
    assert env == [
        {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-conn", "key": "password"}},
        }
    ]


def test_a_secret_inside_text_goes_through_a_hidden_variable() -> None:
    env = container_env(
        {
            "DATABASE_URL": "postgres://${resources.db.username}:${resources.db.password}"
            "@${resources.db.host}:${resources.db.port}/app",
            "A_FIRST": "x",
        }
    )
    assert env == [
        {
            "name": "BERTH_SECRET_DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-conn", "key": "password"}},
        },
        {"name": "A_FIRST", "value": "x"},
        {
            "name": "DATABASE_URL",
            "value": "postgres://app:$(BERTH_SECRET_DB_PASSWORD)@db.internal:5432/app",
        },
    ]
    assert resolved_env(env, SECRETS)["DATABASE_URL"] == (
        f"postgres://app:{SECRET_VALUE}@db.internal:5432/app"
    )


def test_hidden_variables_are_shared_and_sorted() -> None:
    env = container_env(
        {
            "B": "${resources.db.password}-${resources.db.ca.crt}",
            "A": "x${resources.db.password}",
            "C": "${resources.db.password}",
        }
    )
    names = [item["name"] for item in env]
    assert names == ["BERTH_SECRET_DB_CA_CRT", "BERTH_SECRET_DB_PASSWORD", "A", "B", "C"]
    seen = resolved_env(env, SECRETS)
    assert seen["A"] == f"x{SECRET_VALUE}"
    assert seen["B"] == f"{SECRET_VALUE}-CA"
    assert seen["C"] == SECRET_VALUE


def test_colliding_hidden_names_get_hash_suffixes() -> None:
    names = hidden_variable_names({("db-b", "c"), ("db", "b-c"), ("db", "password")})
    assert names[("db", "password")] == "BERTH_SECRET_DB_PASSWORD"
    assert names[("db-b", "c")].startswith("BERTH_SECRET_DB_B_C_")
    assert names[("db", "b-c")].startswith("BERTH_SECRET_DB_B_C_")
    assert names[("db-b", "c")] != names[("db", "b-c")]
    assert names == hidden_variable_names({("db", "b-c"), ("db", "password"), ("db-b", "c")})
    env = container_env({"X": "${resources.db-b.c}/${resources.db.b-c}"})
    assert resolved_env(env, SECRETS)["X"] == "C/C2"


def test_literal_dollar_parentheses_are_not_expanded_by_kubernetes() -> None:
    env = container_env({"HOME": "/home/app", "LITERAL": "$(HOME) costs $$5 and $"})
    values = {item["name"]: item["value"] for item in env}
    assert values["LITERAL"] == "$$(HOME) costs $5 and $"
    assert resolved_env(env, SECRETS)["LITERAL"] == "$(HOME) costs $5 and $"


def test_dollar_right_before_a_secret() -> None:
    env = container_env({"X": "price$$${resources.db.password}"})
    assert resolved_env(env, SECRETS)["X"] == f"price${SECRET_VALUE}"


def test_escaping_survives_any_text_around_secrets() -> None:
    rng = random.Random(20240601)
    alphabet = ["$", "$", "(", ")", "a", "HOME", "B"]
    for _ in range(300):
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        suffix = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        literal = escape_expansion(prefix)
        assert k8s_expand(literal, {"HOME": "/root", "B": "b"}) == prefix
        # with a secret in between, after Score's own $$ -> $ unescaping
        value = prefix + "${resources.db.password}" + suffix
        env = container_env({"HOME": "/root", "V": value})
        expected = score_expand(value, {"resources.db.password": SECRET_VALUE})
        assert resolved_env(env, SECRETS)["V"] == expected, value


def test_command_and_args_use_hidden_variables_and_are_escaped() -> None:
    main = render_main(
        {},
        command=["/bin/app", "--dsn=${resources.db.username}:${resources.db.password}"],
        args=["--name", "${metadata.name}", "$(NOT_EXPANDED)"],
    )
    assert main["command"] == ["/bin/app", "--dsn=app:$(BERTH_SECRET_DB_PASSWORD)"]
    assert main["args"] == ["--name", "checkout", "$$(NOT_EXPANDED)"]
    assert main["env"] == [
        {
            "name": "BERTH_SECRET_DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-conn", "key": "password"}},
        }
    ]


def test_no_env_command_or_args_when_none_given() -> None:
    main = render_main({})
    assert "env" not in main
    assert "command" not in main
    assert "args" not in main


def test_secret_values_never_appear_in_manifests() -> None:
    wl = workload(
        containers={
            "main": container(
                variables={
                    "P": "${resources.db.password}",
                    "URL": "u:${resources.db.password}@h",
                    "CA": "${resources.db.ca.crt}",
                },
                args=["--password=${resources.db.password}"],
            ),
            "sidecar": container(variables={"P2": "x${resources.db.password}y"}),
        },
        resources=RESOURCES,
    )
    rendered = render_workload(wl, environment(), OUTPUTS)
    dumped = json.dumps(rendered.manifests, sort_keys=True)
    assert SECRET_VALUE not in dumped  # never handed to render at all
    # the secrets are referenced by name and key only
    # main: P and CA directly, one hidden variable for URL and args; sidecar: one hidden
    assert dumped.count('"secretKeyRef"') == 4
    refs = {
        (var["valueFrom"]["secretKeyRef"]["name"], var["valueFrom"]["secretKeyRef"]["key"])
        for c in rendered.manifests[0]["spec"]["template"]["spec"]["containers"]
        for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert refs == {("db-conn", "password"), ("db-tls", "ca.crt")}
    sidecar = rendered.manifests[0]["spec"]["template"]["spec"]["containers"][1]
    assert sidecar["name"] == "sidecar"
    assert resolved_env(sidecar["env"], SECRETS)["P2"] == f"x{SECRET_VALUE}y"


@pytest.mark.parametrize(
    ("value", "reason", "message"),
    [
        (
            "${resources.db.hots}",
            Reason.UNKNOWN_OUTPUT,
            "container 'main' variable 'DB_HOST': ${resources.db.hots} names output 'hots' of "
            "resource 'db', which has outputs: b-c, ca.crt, host, password, port, username",
        ),
        (
            "${resources.cache.host}",
            Reason.UNKNOWN_RESOURCE,
            "container 'main' variable 'DB_HOST': ${resources.cache.host} names resource "
            "'cache', which is not declared in spec.resources (declared: db, db-b)",
        ),
        (
            "${nope}",
            Reason.INVALID_PLACEHOLDER,
            "container 'main' variable 'DB_HOST': ${nope} is not a known placeholder",
        ),
    ],
)
def test_variable_errors_name_the_variable(value: str, reason: str, message: str) -> None:
    with pytest.raises(RenderError) as exc:
        container_env({"DB_HOST": value})
    assert exc.value.reason == reason
    assert exc.value.message.startswith(message)


def test_all_variable_errors_are_reported_together() -> None:
    with pytest.raises(RenderError) as exc:
        container_env({"A": "${resources.db.nope}", "B": "${metadata.nope}"}, args=["${x}"])
    assert [p.reason for p in exc.value.problems] == [
        Reason.UNKNOWN_OUTPUT,
        Reason.UNKNOWN_METADATA,
        Reason.INVALID_PLACEHOLDER,
    ]
    assert "variable 'A'" in exc.value.message
    assert "variable 'B'" in exc.value.message
    assert "args[0]" in exc.value.message
