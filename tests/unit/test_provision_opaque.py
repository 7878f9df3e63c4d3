"""The opaque-value machinery on its own (berth.provision.opaque): each guarantee its
docstring states, checked without a template around it. test_provision_template checks
the same through whole templates."""

from __future__ import annotations

import math
import re
from typing import Any

import jinja2
import pytest

from berth.provision.errors import TemplateFailure
from berth.provision.opaque import (
    TOKEN_PATTERN,
    Opaque,
    OpaqueList,
    OpaqueMap,
    Tokens,
    restore,
    tojson,
)


def test_every_string_and_key_becomes_a_token_of_letters_and_digits() -> None:
    tokens = Tokens()
    wrapped = tokens.wrap({"a: b": "x\ny: z", "list": ["{{ 7 * 7 }}", 3, True, None]}, "p")
    assert isinstance(wrapped, OpaqueMap)
    keys = list(wrapped)
    assert all(isinstance(key, Opaque) for key in keys)
    assert [re.fullmatch(r"BerthValue\d+X", key) is not None for key in keys] == [True, True]
    value = wrapped["a: b"]
    assert isinstance(value, Opaque)
    assert TOKEN_PATTERN.fullmatch(value)
    items = wrapped["list"]
    assert isinstance(items, OpaqueList)
    assert isinstance(items[0], Opaque)
    assert items[1:] == [3, True, None]  # numbers, booleans and None are real values
    # printed whole, a map or a list is one token too
    assert TOKEN_PATTERN.fullmatch(str(wrapped))
    assert TOKEN_PATTERN.fullmatch(str(items))
    assert tokens.substitute(str(items)) == '["{{ 7 * 7 }}",3,true,null]'


def test_an_opaque_string_answers_with_its_real_value() -> None:
    tokens = Tokens()
    value = tokens.wrap("Checkout", "workload.name")
    assert value == "Checkout"
    assert value != "checkout"
    assert value < "D"
    assert value >= "Checkout"
    assert "heck" in value
    assert len(value) == 8
    assert bool(tokens.wrap("", "empty")) is False
    assert hash(value) == hash("Checkout")
    assert value.lower() == "checkout"
    assert isinstance(value.lower(), Opaque)
    assert value.startswith("Check")
    assert value.replace("Check", "Look") == "Lookout"
    # a string the template built from opaque ones compares by its real text too
    assert value == tokens.wrap("Check", "a") + "out"


@pytest.mark.parametrize(
    ("operation", "refused"),
    [
        (lambda v: list(v), "iterate over it"),
        (lambda v: v[0], "index or slice it"),
        (lambda v: v[1:], "index or slice it"),
        (lambda v: v % (), "use it as a format string"),
    ],
)
def test_operations_that_would_read_the_token_are_refused(operation: Any, refused: str) -> None:
    value = Tokens().wrap("secret-ish", "resource.params.name")
    with pytest.raises(jinja2.exceptions.SecurityError, match=refused) as caught:
        operation(value)
    assert "resource.params.name is a value a user controls" in str(caught.value)


def test_restore_puts_real_text_back_in_strings_and_keys() -> None:
    tokens = Tokens()
    name = tokens.wrap("a: b", "n")
    key = tokens.wrap("k\nx: y", "k")
    parsed = {f"{key}": [f"<{name}>", 1, 2.5, False, None], "plain": f"{name}{name}"}
    assert restore(parsed, tokens, "manifests") == {
        "k\nx: y": ["<a: b>", 1, 2.5, False, None],
        "plain": "a: ba: b",
    }


def test_a_user_value_that_looks_like_a_token_stays_text() -> None:
    tokens = Tokens()
    tokens.wrap("first", "a")
    forged = tokens.wrap("BerthValue0X", "b")
    assert restore({"v": f"{forged}"}, tokens, "x") == {"v": "BerthValue0X"}


@pytest.mark.parametrize(
    "changed", [lambda t: t.upper(), lambda t: t.lower(), lambda t: "BerthValue99X"]
)
def test_a_changed_token_is_an_error_never_written(changed: Any) -> None:
    tokens = Tokens()
    token = str.__str__(tokens.wrap("value", "a"))
    with pytest.raises(TemplateFailure, match="a user value the template transformed"):
        restore({"v": changed(token)}, tokens, "x")


def test_what_json_cannot_hold_is_an_error() -> None:
    tokens = Tokens()
    one, two = tokens.wrap("same", "a"), tokens.wrap("same", "b")
    with pytest.raises(TemplateFailure, match="has the key 'same' twice"):
        restore({f"{one}": 1, f"{two}": 2}, tokens, "obj")
    with pytest.raises(TemplateFailure, match="has the key 1, which is not a string"):
        restore({1: "x"}, tokens, "obj")
    with pytest.raises(TemplateFailure, match="which JSON cannot hold"):
        restore({"x": math.inf}, tokens, "obj")
    with pytest.raises(TemplateFailure, match="is a set, which is not JSON"):
        restore({"x": {1}}, tokens, "obj")


def test_tojson_of_a_value_is_the_value_as_a_whole_scalar_and_json_inside_text() -> None:
    tokens = Tokens()
    value = tokens.wrap('say "hi"\n', "p")
    quoted = tojson(value)
    assert isinstance(quoted, Opaque)
    # (parsed YAML holds plain strings: an Opaque itself would compare by its real value)
    whole = str.__str__(quoted)
    assert tokens.substitute(whole) == 'say "hi"\n'  # the whole scalar: the value itself
    assert tokens.substitute(f"x={quoted}") == 'x="say \\"hi\\"\\n"'  # inside text: its JSON
    assert tojson({"n": 1}) == '{"n": 1}'  # no user value in it: plain JSON text


def test_reveal_is_lenient_for_messages() -> None:
    tokens = Tokens()
    value = tokens.wrap("db", "a")
    assert tokens.reveal(f"no {value} here, nor BerthValue7X") == "no db here, nor BerthValue7X"


@pytest.mark.parametrize(
    ("value", "label_1035", "label_1123", "subdomain"),
    [
        ("billing", True, True, True),
        ("9lives", False, True, True),
        ("db.internal", False, False, True),
        ("../sb/victim", False, False, False),
        ("Billing", False, False, False),
        ("billing\n", False, False, False),
        ("a" * 64, False, False, True),
        ("", False, False, False),
        (5, False, False, False),
    ],
)
def test_the_name_tests_answer_about_the_real_value(
    value: Any, label_1035: bool, label_1123: bool, subdomain: bool
) -> None:
    from berth.provision.sandbox import SANDBOX

    tokens = Tokens()
    wrapped = tokens.wrap(value, "resource.params.workload") if isinstance(value, str) else value
    answers = [
        SANDBOX.tests[name](wrapped)
        for name in ("dns1035_label", "dns1123_label", "dns1123_subdomain")
    ]
    assert answers == [label_1035, label_1123, subdomain]
