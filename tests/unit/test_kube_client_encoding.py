"""What the client sends is what the API server's apply decoder (YAML) reads back."""

from __future__ import annotations

import json

import pytest
import yaml

from berth.kube.client import encode_body

AWKWARD = [
    "\U0001f680 beyond the basic plane",
    "DEL \x7f and C1 \x80\x9f",
    "NEL \x85, line \u2028 and paragraph \u2029 separators",
    "byte-order mark \ufeff and non-characters \ufffe\uffff",
    "C0 \x00\x01\x1f, tab \t, newline \n",
    "plain ASCII and Grüße",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_yaml_reads_back_exactly_what_was_sent(text: str) -> None:
    body = {"metadata": {"annotations": {"note": text}}, "data": {text[:3]: text}}
    encoded = encode_body(body)
    assert json.loads(encoded) == body
    assert yaml.safe_load(encoded.decode()) == body


def test_astral_characters_travel_as_utf8_not_surrogate_escapes() -> None:
    encoded = encode_body({"v": "\U0001f680"})
    assert "\U0001f680".encode() in encoded
    assert b"\\ud83d" not in encoded
