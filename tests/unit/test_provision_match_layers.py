"""Choosing across the layers: an Environment's own provisioners first, then the most
specific ClusterProvisioner (resource criteria, then environment criteria, then name)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from berth.api import ClusterProvisioner, Environment, Provisioner, ResourceRequest
from berth.provision import (
    ProvisionError,
    cluster_rank,
    match,
    plan,
    serves_environment,
)
from berth.reasons import Reason
from tests.unit.builders import environment, workload


def definition(name: str, **spec: Any) -> ClusterProvisioner:
    return ClusterProvisioner.model_validate(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "ClusterProvisioner",
            "metadata": {"name": name},
            "spec": {"secret": {"name": f"{name}-secret"}, "outputs": ["url"], **spec},
        }
    )


def local(**spec: Any) -> Provisioner:
    return Provisioner.model_validate({"secret": {"name": "local"}, **spec})


def request(**fields: Any) -> ResourceRequest:
    return ResourceRequest.model_validate(fields)


def env(name: str = "team-a-dev", type_: str = "development") -> Environment:
    built = environment(type=type_)
    built.metadata.name = name
    return built


def test_a_cluster_provisioner_serves_an_environment_without_provisioners() -> None:
    catalogue = [definition("pg", type="postgres"), definition("cache", type="redis")]
    result = match("db", request(type="postgres"), None, catalogue, env())
    assert result.source == "ClusterProvisioner"
    assert result.name == "ClusterProvisioner/pg"
    assert result.provisioner.type == "postgres"
    assert result.provisioner.secret == {"name": "pg-secret"}
    assert result.reason == (
        "ClusterProvisioner/pg matched type postgres; the Environment has no provisioner of "
        "type postgres; 1 ClusterProvisioner of type postgres considered"
    )


def test_the_environments_own_provisioner_wins_over_any_cluster_provisioner() -> None:
    catalogue = [
        definition("pg-main", type="postgres", id="main", environmentNames=["team-a-dev"]),
    ]
    own = [local(type="postgres", name="mine")]
    result = match("db", request(type="postgres", id="main"), own, catalogue, env())
    assert result.source == "Environment"
    assert result.name == "mine"
    assert result.reason == "mine matched type postgres; 1 provisioner considered"


def test_an_own_provisioner_that_does_not_serve_the_class_leaves_it_to_the_cluster() -> None:
    catalogue = [definition("pg-large", type="postgres", **{"class": "large"})]
    own = [local(type="postgres", **{"class": "small"})]
    result = match("db", request(type="postgres", **{"class": "large"}), own, catalogue, env())
    assert result.name == "ClusterProvisioner/pg-large"
    assert result.reason == (
        "ClusterProvisioner/pg-large matched type postgres and class large; none of the "
        "Environment's 1 provisioner of type postgres serves it; 1 ClusterProvisioner of type "
        "postgres considered"
    )


# The total order, most specific first: resource criteria (id and class > id > class >
# type only), then environment criteria (names and types > names > types > neither).
ORDERED = [
    definition(
        "a-id-class-both",
        type="postgres",
        id="main",
        environmentNames=["team-a-dev"],
        environmentTypes=["development"],
        **{"class": "large"},
    ),
    definition("b-id-class", type="postgres", id="main", **{"class": "large"}),
    definition("c-id-name", type="postgres", id="main", environmentNames=["team-a-dev"]),
    definition("d-id-type", type="postgres", id="main", environmentTypes=["development"]),
    definition("e-id", type="postgres", id="main"),
    definition(
        "f-class-name", type="postgres", environmentNames=["team-a-dev"], **{"class": "large"}
    ),
    definition("g-class", type="postgres", **{"class": "large"}),
    definition(
        "h-name-type",
        type="postgres",
        environmentNames=["team-a-dev"],
        environmentTypes=["development"],
    ),
    definition("i-name", type="postgres", environmentNames=["team-a-dev"]),
    definition("j-type", type="postgres", environmentTypes=["development", "preview"]),
    definition("k-any", type="postgres"),
]


def test_the_order_is_total_and_documented() -> None:
    assert sorted(ORDERED, key=cluster_rank) == ORDERED


@pytest.mark.parametrize("drop", range(len(ORDERED)))
def test_the_most_specific_matching_definition_wins_whatever_the_listing(drop: int) -> None:
    both = request(type="postgres", id="main", **{"class": "large"})
    remaining = ORDERED[drop:]
    for listing in (remaining, list(reversed(remaining))):
        result = match("db", both, None, listing, env())
        assert result.name == f"ClusterProvisioner/{remaining[0].name}"


def test_class_beats_environment_name() -> None:
    catalogue = [ORDERED[8], ORDERED[6]]  # i-name, g-class
    result = match("db", request(type="postgres", **{"class": "large"}), None, catalogue, env())
    assert result.name == "ClusterProvisioner/g-class"
    # A resource without the class: only the environment-name definition serves it.
    result = match("db", request(type="postgres"), None, catalogue, env())
    assert result.name == "ClusterProvisioner/i-name"
    assert result.reason.startswith(
        "ClusterProvisioner/i-name matched type postgres and environment name team-a-dev;"
    )


def test_environment_name_beats_type_beats_neither() -> None:
    catalogue = [ORDERED[10], ORDERED[9], ORDERED[8]]
    assert match("db", request(type="postgres"), None, catalogue, env()).name.endswith("i-name")
    other = env("team-b-dev")
    assert match("db", request(type="postgres"), None, catalogue, other).name.endswith("j-type")
    staging = env("team-b-staging", "staging")
    assert match("db", request(type="postgres"), None, catalogue, staging).name.endswith("k-any")


def test_ties_go_to_the_first_name_and_the_reason_says_so() -> None:
    catalogue = [definition("zeta", type="redis"), definition("alpha", type="redis")]
    result = match("cache", request(type="redis"), None, catalogue, env())
    assert result.name == "ClusterProvisioner/alpha"
    assert result.reason == (
        "ClusterProvisioner/alpha matched type redis; the Environment has no provisioner of "
        "type redis; 2 ClusterProvisioners of type redis considered, zeta as specific (the "
        "first by name wins)"
    )


def test_less_specific_ones_are_counted() -> None:
    catalogue = [
        definition("any", type="redis"),
        definition("dev", type="redis", **{"class": "dev"}),
    ]
    result = match("cache", request(type="redis", **{"class": "dev"}), None, catalogue, env())
    assert result.name == "ClusterProvisioner/dev"
    assert result.reason.endswith("2 ClusterProvisioners of type redis considered, 1 less specific")


def test_environment_criteria() -> None:
    spec = definition("x", type="a", environmentTypes=["preview"], environmentNames=["p1"]).spec
    assert serves_environment(spec, env("p1", "preview"))
    assert not serves_environment(spec, env("p2", "preview"))
    assert not serves_environment(spec, env("p1", "development"))
    assert not serves_environment(spec, None)
    assert serves_environment(definition("y", type="a").spec, None)


def test_no_match_anywhere_says_what_each_layer_offers() -> None:
    catalogue = [
        definition("pg-prod", type="postgres", environmentTypes=["production"]),
        definition("pg-huge", type="postgres", **{"class": "huge"}),
        definition("cache", type="redis"),
    ]
    with pytest.raises(ProvisionError) as caught:
        match("db", request(type="postgres"), [local(type="mysql")], catalogue, env())
    assert caught.value.reason == Reason.NO_PROVISIONER
    assert caught.value.message == (
        "no provisioner serves resource 'db' of type 'postgres'; the Environment provides "
        "types: mysql; no ClusterProvisioner of type postgres matches in Environment "
        "team-a-dev (ClusterProvisioner/pg-huge serves class huge; ClusterProvisioner/pg-prod "
        "serves environment types production)"
    )
    with pytest.raises(ProvisionError) as caught:
        match("q", request(type="amqp"), None, catalogue, env())
    assert caught.value.message == (
        "no provisioner serves resource 'q' of type 'amqp'; the Environment provides types: "
        "none; ClusterProvisioners provide types: postgres, redis"
    )


def test_a_cluster_provisioner_plans_like_an_environments_own() -> None:
    catalogue = [
        definition(
            "dns",
            type="dns",
            secret=None,
            outputs=["host"],
            template={"outputs": "host: {{ identity }}.example.dev"},
        )
    ]
    wl = workload("shop", resources={"web": {"type": "dns"}})
    environment_ = env()
    chosen = match("web", request(type="dns"), None, catalogue, environment_)
    result = plan(wl, environment_, "web", {}, chosen)
    assert result.provisioner == "ClusterProvisioner/dns"
    assert result.reason == chosen.reason
    assert [o.name for o in result.outputs] == ["host"]


def test_an_invalid_cluster_provisioner_names_itself_for_the_fix() -> None:
    catalogue = [definition("broken", type="s3", secret={"nome": "x"}, outputs=["bucket"])]
    wl = workload("shop", resources={"b": {"type": "s3"}})
    chosen = match("b", request(type="s3"), None, catalogue, env())
    with pytest.raises(ProvisionError) as caught:
        plan(wl, env(), "b", {}, chosen)
    assert caught.value.reason == Reason.INVALID_PROVISIONER
    assert caught.value.message.endswith("the platform team must fix ClusterProvisioner/broken")


def test_every_permutation_of_a_small_catalogue_chooses_the_same() -> None:
    catalogue = [ORDERED[4], ORDERED[6], ORDERED[9], ORDERED[10]]
    chosen = {
        match("db", request(type="postgres", id="main"), None, list(p), env()).name
        for p in itertools.permutations(catalogue)
    }
    assert chosen == {"ClusterProvisioner/e-id"}
