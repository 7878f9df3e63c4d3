"""Exact parsing of Kubernetes quantities."""

from __future__ import annotations

from fractions import Fraction

import pytest

from berth.render.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        (2, Fraction(2)),
        ("250m", Fraction(1, 4)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("64Mi", Fraction(64 * 1024**2)),
        ("1Gi", Fraction(1024**3)),
        ("128M", Fraction(128 * 10**6)),
        ("1k", Fraction(1000)),
        ("1e3", Fraction(1000)),
        ("1E", Fraction(10**18)),
        ("5n", Fraction(5, 10**9)),
        ("-1", Fraction(-1)),
    ],
)
def test_parse(text: str | int, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_comparisons_across_units() -> None:
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("500m") < parse_quantity(1)
    assert parse_quantity("1000m") == parse_quantity("1")


@pytest.mark.parametrize("text", ["", "lots", "1GB", "1.5e0.5", "Mi"])
def test_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)
