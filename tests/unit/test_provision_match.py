"""Choosing a provisioner: the most specific match wins, ties go to the first listed."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api import Provisioner, ResourceRequest
from berth.provision import Match, ProvisionError, match, provisioner_name
from berth.reasons import Reason


def provisioners(*specs: dict[str, Any]) -> list[Provisioner]:
    return [
        Provisioner.model_validate({"secret": {"name": f"s{index}"}, **spec})
        for index, spec in enumerate(specs)
    ]


def request(**fields: Any) -> ResourceRequest:
    return ResourceRequest.model_validate(fields)


def chosen(result: Match) -> int:
    return result.index


def test_type_only() -> None:
    listed = provisioners({"type": "redis"}, {"type": "postgres"})
    result = match("db", request(type="postgres"), listed)
    assert chosen(result) == 1
    assert result.provisioner is listed[1]
    assert result.name == "provisioners[1]"
    assert result.reason == "provisioners[1] matched type postgres; 2 provisioners considered"


def test_class_beats_type_whatever_the_order() -> None:
    listed = provisioners(
        {"type": "postgres"}, {"type": "postgres", "class": "large"}, {"type": "postgres"}
    )
    result = match("db", request(type="postgres", **{"class": "large"}), listed)
    assert chosen(result) == 1
    assert result.reason == (
        "provisioners[1] matched type postgres and class large; 3 provisioners considered, "
        "2 less specific or listed later"
    )


def test_a_class_provisioner_does_not_serve_other_classes_or_none() -> None:
    listed = provisioners({"type": "postgres", "class": "large"}, {"type": "postgres"})
    assert chosen(match("db", request(type="postgres"), listed)) == 1
    assert chosen(match("db", request(type="postgres", **{"class": "small"}), listed)) == 1


def test_id_beats_class_and_id_with_class_beats_id() -> None:
    listed = provisioners(
        {"type": "postgres", "class": "large"},
        {"type": "postgres", "id": "main"},
        {"type": "postgres", "id": "main", "class": "large"},
        {"type": "postgres"},
    )
    both = request(type="postgres", id="main", **{"class": "large"})
    assert chosen(match("db", both, listed)) == 2
    assert match("db", both, listed).reason.startswith(
        "provisioners[2] matched type postgres, class large and id main; 4 provisioners"
    )
    assert chosen(match("db", request(type="postgres", id="main"), listed)) == 1
    assert chosen(match("db", request(type="postgres", id="other"), listed)) == 3


def test_ties_go_to_the_first_listed() -> None:
    listed = provisioners(
        {"type": "redis", "class": "dev", "name": "first"},
        {"type": "redis", "class": "dev", "name": "second"},
    )
    result = match("cache", request(type="redis", **{"class": "dev"}), listed)
    assert result.name == "first"
    assert result.reason == (
        "first matched type redis and class dev; 2 provisioners considered, "
        "1 less specific or listed later"
    )


def test_one_provisioner_considered_is_singular() -> None:
    result = match("db", request(type="postgres"), provisioners({"type": "postgres"}))
    assert result.reason == "provisioners[0] matched type postgres; 1 provisioner considered"


def test_no_provisioner_lists_the_types_provided() -> None:
    listed = provisioners({"type": "redis"}, {"type": "postgres"}, {"type": "redis"})
    with pytest.raises(ProvisionError) as caught:
        match("db", request(type="postgress"), listed)
    error = caught.value
    assert error.reason == Reason.NO_PROVISIONER == "NoProvisioner"
    assert error.problems[0].resource == "db"
    assert error.message == (
        "no provisioner serves resource 'db' of type 'postgress'; the Environment provides "
        "types: postgres, redis"
    )


def test_no_provisioner_at_all() -> None:
    with pytest.raises(ProvisionError) as caught:
        match("db", request(type="postgres"), None)
    assert caught.value.message.endswith("the Environment provides types: none")


def test_no_provisioner_for_the_class_says_what_the_type_offers() -> None:
    listed = provisioners(
        {"type": "postgres", "class": "large", "name": "pg-large"},
        {"type": "postgres", "id": "main"},
    )
    with pytest.raises(ProvisionError) as caught:
        match("db", request(type="postgres", **{"class": "huge"}), listed)
    assert caught.value.reason == "NoProvisioner"
    assert caught.value.message == (
        "no provisioner serves resource 'db' (type postgres, class huge): the Environment's "
        "provisioners of type postgres do not match (pg-large serves class large; "
        "provisioners[1] serves id main); change the resource's class or id, or ask the "
        "platform team"
    )


def test_provisioner_name() -> None:
    named, unnamed = provisioners({"type": "a", "name": "pg"}, {"type": "a"})
    assert provisioner_name(named, 0) == "pg"
    assert provisioner_name(unnamed, 7) == "provisioners[7]"
