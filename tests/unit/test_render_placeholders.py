"""Score placeholders: parsing, escaping, resolution, errors, resource ordering."""

from __future__ import annotations

from typing import Any

import pytest

from berth.reasons import Reason
from berth.render import PlaceholderError, SecretRef, resolve_params, resource_order
from berth.render.outputs import Outputs
from berth.render.placeholders import Placeholder, Resolver, SecretUse, parse
from tests.unit.builders import workload

WHERE = "container 'main' variable 'X'"

DB_OUTPUTS: Outputs = {
    "db": {
        "host": "db.internal",
        "port": "5432",
        "username": "app",
        "password": SecretRef("db-conn", "password"),
    }
}


def resolver(outputs: Outputs = DB_OUTPUTS, **spec: Any) -> Resolver:
    spec.setdefault(
        "metadata",
        {
            "annotations": {"example.com/owner": "team-a", "team": "a"},
            "tier": "web",
            "nested": {"level": 2, "flag": True, "list": [1]},
        },
    )
    spec.setdefault("resources", {"db": {"type": "postgres"}, "cache": {"type": "redis"}})
    return Resolver(workload(**spec), outputs)


def text(value: str, outputs: Outputs = DB_OUTPUTS) -> str:
    return resolver(outputs).text(
        value, WHERE, secret_reason=Reason.SECRET_IN_FILE, secret_hint="no secrets here"
    )


def failure(value: str, outputs: Outputs = DB_OUTPUTS) -> PlaceholderError:
    with pytest.raises(PlaceholderError) as exc:
        text(value, outputs)
    assert len(exc.value.problems) == 1
    return exc.value


# -- parsing -------------------------------------------------------------------------------


def test_parse_splits_literals_and_placeholders() -> None:
    assert parse("a ${metadata.name} b ${resources.db.host}", WHERE) == [
        "a ",
        Placeholder("${metadata.name}", ("metadata", "name")),
        " b ",
        Placeholder("${resources.db.host}", ("resources", "db", "host")),
    ]
    assert parse("", WHERE) == []
    assert parse("plain $ text $5 $(HOME)", WHERE) == ["plain $ text $5 $(HOME)"]


def test_double_dollar_is_a_literal_dollar() -> None:
    # as in Score's reference implementation: $$ is $, so $${ is a literal ${
    assert parse("$${metadata.name}", WHERE) == ["${metadata.name}"]
    assert parse("cost: $$${metadata.name}", WHERE) == [
        "cost: $",
        Placeholder("${metadata.name}", ("metadata", "name")),
    ]
    assert parse("$$$${x}", WHERE) == ["$${x}"]
    assert text("use $${HOME} and ${metadata.name}") == "use ${HOME} and checkout"
    assert text("abc $$ abc $abc") == "abc $ abc $abc"


def test_escaped_dots_are_part_of_a_segment() -> None:
    (placeholder,) = parse(r"${metadata.annotations.example\.com/owner}", WHERE)
    assert isinstance(placeholder, Placeholder)
    assert placeholder.path == ("metadata", "annotations", "example.com/owner")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${", "unterminated placeholder '${'"),
        ("a ${metadata.name", "unterminated placeholder '${metadata.name'"),
        ("${}", "empty placeholder ${}"),
        ("${metadata.}", "${metadata.} has an empty part"),
        ("${.name}", "${.name} has an empty part"),
    ],
)
def test_malformed_placeholders(value: str, expected: str) -> None:
    error = failure(value)
    assert error.reason == Reason.INVALID_PLACEHOLDER
    assert error.message.startswith(f"{WHERE}: ")
    assert expected in error.message


# -- metadata ------------------------------------------------------------------------------


def test_metadata_name() -> None:
    assert text("Hello from ${metadata.name}!") == "Hello from checkout!"


def test_annotation_keys_with_dots_and_slashes() -> None:
    assert text(r"${metadata.annotations.example\.com/owner}") == "team-a"
    # annotations are flat, so unescaped dots after "annotations." also form the key
    assert text("${metadata.annotations.example.com/owner}") == "team-a"
    assert text("${metadata.annotations.team}") == "a"


def test_other_metadata_keys() -> None:
    assert text("${metadata.tier}") == "web"
    assert text("${metadata.nested.level}/${metadata.nested.flag}") == "2/true"


def test_unknown_annotation() -> None:
    error = failure("${metadata.annotations.owner}")
    assert error.reason == Reason.UNKNOWN_METADATA
    assert error.message == (
        f"{WHERE}: ${{metadata.annotations.owner}} names annotation 'owner', which is not in "
        "spec.metadata.annotations (present: example.com/owner, team)"
    )


def test_unknown_metadata_key() -> None:
    error = failure("${metadata.colour}")
    assert error.reason == Reason.UNKNOWN_METADATA
    assert "names key 'colour' of metadata, which does not exist" in error.message
    assert "(present: annotations, name, nested, tier)" in error.message
    nested = failure("${metadata.nested.missing}")
    assert nested.reason == Reason.UNKNOWN_METADATA
    assert "key 'missing' of metadata.nested" in nested.message
    assert "(present: flag, level, list)" in nested.message


def test_all_annotations_at_once_is_refused_as_score_tools_refuse_it() -> None:
    """Issue 17: it used to render the map as JSON (and "{}" without annotations), and
    the Workload was Ready with a variable nobody meant."""
    error = failure("${metadata.annotations}")
    assert error.reason == Reason.INVALID_PLACEHOLDER
    assert "names all of the annotations; write ${metadata.annotations.<key>}" in error.message
    assert "(present: example.com/owner, team)" in error.message


def test_metadata_maps_and_lists_become_compact_json() -> None:
    assert text("${metadata.nested}") == '{"flag":true,"level":2,"list":[1]}'
    assert text("${metadata.nested.list}") == "[1]"
    error = failure("${metadata}")
    assert error.reason == Reason.INVALID_PLACEHOLDER
    assert "names all of metadata" in error.message
    nested = failure("${metadata.name.first}")
    assert nested.reason == Reason.UNKNOWN_METADATA
    assert "metadata.name is a string and has no keys" in nested.message


# -- resources -----------------------------------------------------------------------------


def test_resource_outputs() -> None:
    assert text("${resources.db.host}:${resources.db.port}") == "db.internal:5432"


def test_secret_outputs_resolve_to_secret_uses() -> None:
    segments = resolver().segments("u=${resources.db.username} p=${resources.db.password}", WHERE)
    assert segments == [
        "u=app p=",
        SecretUse("db", "password", SecretRef("db-conn", "password"), "${resources.db.password}"),
    ]


def test_secret_where_no_secret_may_go() -> None:
    error = failure("pw=${resources.db.password}")
    assert error.reason == Reason.SECRET_IN_FILE
    assert error.message == (
        f"{WHERE}: ${{resources.db.password}} is a secret output of resource 'db'; no secrets here"
    )
    assert "db-conn" not in error.message


def test_unknown_output_lists_what_exists() -> None:
    error = failure("${resources.db.hots}")
    assert error.reason == Reason.UNKNOWN_OUTPUT
    assert error.message == (
        f"{WHERE}: ${{resources.db.hots}} names output 'hots' of resource 'db', "
        "which has outputs: host, password, port, username"
    )


def test_unknown_output_of_a_resource_without_outputs() -> None:
    error = failure("${resources.cache.host}", {**DB_OUTPUTS, "cache": {}})
    assert error.reason == Reason.UNKNOWN_OUTPUT
    assert error.message.endswith("names output 'host' of resource 'cache', which has no outputs")


def test_unknown_resource_lists_declared_ones() -> None:
    error = failure("${resources.dbb.host}")
    assert error.reason == Reason.UNKNOWN_RESOURCE
    assert error.message == (
        f"{WHERE}: ${{resources.dbb.host}} names resource 'dbb', which is not declared in "
        "spec.resources (declared: cache, db)"
    )


def test_outputs_not_available_yet() -> None:
    error = failure("${resources.cache.host}")
    assert error.reason == Reason.OUTPUTS_UNAVAILABLE
    assert error.transient is True
    assert error.problems[0].resource == "cache"
    assert "needs resource 'cache', whose outputs are not available yet" in error.message


def test_output_keys_may_contain_dots() -> None:
    outputs: Outputs = {"db": {"tls.crt": "CERT"}}
    assert text("${resources.db.tls.crt}", outputs) == "CERT"
    assert text(r"${resources.db.tls\.crt}", outputs) == "CERT"


def test_a_resource_alone_is_only_for_volumes() -> None:
    error = failure("${resources.db}")
    assert error.reason == Reason.INVALID_PLACEHOLDER
    assert "names resource 'db' itself, which only a volume source can use" in error.message
    assert "${resources.db.<output>}" in error.message
    assert failure("${resources}").reason == Reason.INVALID_PLACEHOLDER


def test_unknown_root() -> None:
    error = failure("${HOME}")
    assert error.reason == Reason.INVALID_PLACEHOLDER
    assert "${HOME} is not a known placeholder" in error.message
    assert "write $${ for a literal ${" in error.message


# -- resource params -----------------------------------------------------------------------


def test_resource_order_is_topological_and_deterministic() -> None:
    wl = workload(
        resources={
            "zeta": {"type": "t"},
            "app": {"type": "t", "params": {"db": "${resources.db.host}"}},
            "db": {"type": "t", "params": {"network": "${resources.net.id}"}},
            "net": {"type": "t"},
            "alpha": {"type": "t", "params": {"x": ["${resources.zeta.a}", {"y": 1}]}},
        }
    )
    assert resource_order(wl) == ["net", "db", "app", "zeta", "alpha"]
    assert resource_order(workload()) == []


@pytest.mark.parametrize(
    ("resources", "cycle"),
    [
        (
            {
                "a": {"type": "t", "params": {"x": "${resources.b.out}"}},
                "b": {"type": "t", "params": {"x": "${resources.a.out}"}},
            },
            "a -> b -> a",
        ),
        ({"a": {"type": "t", "params": {"x": "${resources.a.out}"}}}, "a -> a"),
        (
            {
                "ok": {"type": "t"},
                "c": {"type": "t", "params": {"x": "${resources.d.o}"}},
                "d": {"type": "t", "params": {"x": "${resources.e.o}", "y": "${resources.ok.o}"}},
                "e": {"type": "t", "params": {"x": ["${resources.c.o}"]}},
            },
            "c -> d -> e -> c",
        ),
    ],
)
def test_resource_cycles_are_named(resources: dict[str, Any], cycle: str) -> None:
    with pytest.raises(PlaceholderError) as exc:
        resource_order(workload(resources=resources))
    assert exc.value.reason == Reason.PLACEHOLDER_CYCLE
    assert f"cycle: {cycle};" in exc.value.message


def test_resource_order_rejects_unknown_resources_in_params() -> None:
    with pytest.raises(PlaceholderError) as exc:
        resource_order(
            workload(resources={"a": {"type": "t", "params": {"deep": {"x": "${resources.b.o}"}}}})
        )
    assert exc.value.reason == Reason.UNKNOWN_RESOURCE
    assert exc.value.message == (
        "resource 'a' params.deep.x: ${resources.b.o} names resource 'b', which is not "
        "declared in spec.resources (declared: a)"
    )


def test_resolve_params_substitutes_strings_only() -> None:
    wl = workload(
        resources={
            "db": {"type": "postgres"},
            "app": {
                "type": "route",
                "params": {
                    "host": "${metadata.name}.example.com",
                    "backend": "${resources.db.host}:${resources.db.port}",
                    "port": 80,
                    "tags": ["${resources.db.username}", True],
                    "literal": "$${resources.db.host}",
                },
            },
        }
    )
    assert resolve_params(wl, "app", DB_OUTPUTS) == {
        "host": "checkout.example.com",
        "backend": "db.internal:5432",
        "port": 80,
        "tags": ["app", True],
        "literal": "${resources.db.host}",
    }
    assert resolve_params(wl, "db", DB_OUTPUTS) == {}


def test_resolve_params_refuses_secrets_and_collects_problems() -> None:
    wl = workload(
        resources={
            "db": {"type": "postgres"},
            "app": {
                "type": "t",
                "params": {"a": "${resources.db.password}", "b": "${resources.db.nope}"},
            },
        }
    )
    with pytest.raises(PlaceholderError) as exc:
        resolve_params(wl, "app", DB_OUTPUTS)
    assert [p.reason for p in exc.value.problems] == [
        Reason.SECRET_IN_PARAMS,
        Reason.UNKNOWN_OUTPUT,
    ]
    assert "resource 'app' params.a: ${resources.db.password} is a secret output" in (
        exc.value.message
    )
    assert "db-conn" not in exc.value.message
