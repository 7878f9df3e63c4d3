"""Identities: deterministic, DNS-safe, unique, shared by id."""

from __future__ import annotations

import re
from typing import Any

from berth.api import ResourceRequest
from berth.provision import IDENTITY_MAX, connection_secret_name, resource_identity
from berth.provision.identity import is_shared

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def request(**fields: Any) -> ResourceRequest:
    return ResourceRequest.model_validate(fields)


def test_workload_scoped_identity_is_readable_and_hashed() -> None:
    identity = resource_identity("checkout", "db", request(type="postgres"))
    assert re.fullmatch(r"checkout-db-[0-9a-f]{8}", identity)
    assert identity == resource_identity("checkout", "db", request(type="postgres"))
    assert DNS_1035.match(identity)


def test_same_readable_part_different_identities() -> None:
    one = resource_identity("a-b", "c", request(type="postgres"))
    two = resource_identity("a", "b-c", request(type="postgres"))
    assert one.startswith("a-b-c-")
    assert two.startswith("a-b-c-")
    assert one != two


def test_shared_identity_ignores_the_workload() -> None:
    shared = request(type="postgres", id="main")
    assert is_shared(shared)
    assert not is_shared(request(type="postgres"))
    one = resource_identity("checkout", "db", shared)
    assert one == resource_identity("billing", "database", shared)
    assert re.fullmatch(r"postgres-main-[0-9a-f]{8}", one)


def test_shared_identity_depends_on_type_class_and_id() -> None:
    base = resource_identity("w", "r", request(type="postgres", id="main"))
    assert base != resource_identity("w", "r", request(type="redis", id="main"))
    large = resource_identity("w", "r", request(type="postgres", id="main", **{"class": "large"}))
    assert large != base
    assert large.startswith("postgres-large-main-")


def test_shared_and_workload_identities_never_meet() -> None:
    assert resource_identity("postgres", "main", request(type="postgres")) != resource_identity(
        "x", "y", request(type="postgres", id="main")
    )


def test_long_names_are_truncated_and_stay_unique() -> None:
    workload = "w" * 63
    one = resource_identity(workload, "a" * 63, request(type="postgres"))
    two = resource_identity(workload, "a" * 62 + "b", request(type="postgres"))
    assert len(one) == IDENTITY_MAX == 52
    assert len(two) == IDENTITY_MAX
    assert one != two
    assert DNS_1035.match(one)
    assert len(connection_secret_name(one)) <= 63


def test_odd_characters_are_made_dns_safe() -> None:
    identity = resource_identity("w", "r", request(type="Postgres", id="team.main-db"))
    assert re.fullmatch(r"postgres-team-main-db-[0-9a-f]{8}", identity)
    digit = resource_identity("w", "r", request(type="9lives", id="x"))
    assert DNS_1035.match(digit)
    assert digit.startswith("r-9lives-x-")
