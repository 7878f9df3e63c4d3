"""Kubernetes resource quantities, parsed exactly (for comparisons only)."""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: str | int) -> Fraction:
    """The exact value of a quantity such as 250m, 0.5, 64Mi, 1e3 or 2."""
    if isinstance(value, int):
        return Fraction(value)
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number = Fraction(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        number *= 1024 ** _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= Fraction(10) ** _DECIMAL[suffix]
    else:  # decimal exponent, e.g. e3 or E-2
        exponent = Fraction(suffix[1:])
        if exponent.denominator != 1:
            raise ValueError(f"not a Kubernetes quantity: {value!r}")
        number *= Fraction(10) ** int(exponent)
    return -number if match["sign"] == "-" else number
