"""One definition per shared resource (berth.provision.sharing) and whole-identity
comparison (berth.provision.identity): the pure parts of issue #10's points 3 and 4."""

from __future__ import annotations

import copy
from typing import Any

from berth.provision import plan, resource_identity
from berth.provision.identity import (
    identities_of_spec,
    identity_of,
    identity_of_entry,
    removed_entries,
)
from berth.provision.sharing import (
    DEFINED_BY_ANNOTATION,
    DEFINITION_ANNOTATION,
    choose_definer,
    definition_annotations,
    differing_params,
    recorded_definition,
)
from berth.reasons import Reason
from tests.unit.builders import environment, workload
from tests.unit.test_provision_crossplane import POSTGRES


def shared_plan(name: str, **params: Any) -> Any:
    wl = workload(name, resources={"db": {"type": "postgres", "id": "main", "params": params}})
    return plan(wl, environment(provisioners=[copy.deepcopy(POSTGRES)]), "db", params)


def live_claim(definer: str | None, fingerprint: str | None) -> dict[str, Any]:
    annotations = {}
    if definer is not None:
        annotations[DEFINED_BY_ANNOTATION] = definer
    if fingerprint is not None:
        annotations[DEFINITION_ANNOTATION] = fingerprint
    return {"metadata": {"name": "postgres-main-x", "annotations": annotations}}


def test_the_first_writer_creates_and_records_its_definition() -> None:
    mine = shared_plan("one", storageGB=10)
    decision = choose_definer(mine, "one", None, {"one"})
    assert (decision.write, decision.takeover, decision.definer) == (True, False, "one")
    assert decision.conflict is None
    assert definition_annotations(mine, "one") == {
        DEFINED_BY_ANNOTATION: "one",
        DEFINITION_ANNOTATION: mine.fingerprint,
    }


def test_the_definer_keeps_writing_its_own_definition_also_when_it_changes() -> None:
    old, new = shared_plan("one", storageGB=10), shared_plan("one", storageGB=30)
    decision = choose_definer(new, "one", live_claim("one", old.fingerprint), {"one", "two"})
    assert (decision.write, decision.takeover, decision.definer) == (True, False, "one")


def test_another_user_with_the_same_definition_writes_it_as_the_definers() -> None:
    theirs, mine = shared_plan("one", storageGB=10), shared_plan("two", storageGB=10)
    assert theirs.fingerprint == mine.fingerprint
    decision = choose_definer(mine, "two", live_claim("one", theirs.fingerprint), {"one", "two"})
    assert (decision.write, decision.definer, decision.conflict) == (True, "one", None)


def test_another_user_with_a_different_definition_never_writes_and_is_told_who_won() -> None:
    theirs, mine = shared_plan("one", storageGB=10), shared_plan("two", storageGB=20)
    decision = choose_definer(
        mine,
        "two",
        live_claim("one", theirs.fingerprint),
        {"one", "two"},
        differing=differing_params({"storageGB": 20}, {"storageGB": 10}),
    )
    assert not decision.write
    assert decision.definer == "one"
    assert decision.conflict is not None
    assert decision.conflict.reason == Reason.SHARED_RESOURCE_CONFLICT
    assert "Workload 'one' defined it first" in decision.conflict.message
    assert "params storageGB" in decision.conflict.message
    assert "id main" in decision.conflict.message
    # Values never appear: only the names of the params that differ.
    assert "20" not in decision.conflict.message.replace("storageGB", "")


def test_the_definers_current_plan_counts_more_than_what_it_last_recorded() -> None:
    # The definer changed its params (or the Environment its defaults) and has not
    # written yet: a user that agrees with its current plan is not in conflict.
    old, new = shared_plan("one", storageGB=10), shared_plan("one", storageGB=20)
    mine = shared_plan("two", storageGB=20)
    recorded = live_claim("one", old.fingerprint)
    assert choose_definer(mine, "two", recorded, {"one", "two"}).conflict is not None
    assert choose_definer(mine, "two", recorded, {"one", "two"}, new.fingerprint).conflict is None


def test_when_the_definer_no_longer_asks_the_next_user_takes_over_conditionally() -> None:
    theirs, mine = shared_plan("one", storageGB=10), shared_plan("two", storageGB=20)
    decision = choose_definer(mine, "two", live_claim("one", theirs.fingerprint), {"two"})
    assert (decision.write, decision.takeover, decision.definer) == (True, True, "two")
    unrecorded = choose_definer(mine, "two", live_claim(None, None), {"two", "three"})
    assert (unrecorded.write, unrecorded.takeover) == (True, True)


def test_a_resource_that_is_not_shared_is_always_its_workloads() -> None:
    wl = workload("solo", resources={"db": {"type": "postgres"}})
    solo = plan(wl, environment(provisioners=[copy.deepcopy(POSTGRES)]), "db", {})
    assert choose_definer(solo, "solo", live_claim("someone", "x"), {"someone"}).write


def test_recorded_definition_tolerates_missing_and_odd_annotations() -> None:
    assert recorded_definition(None) == (None, None)
    assert recorded_definition({"metadata": {}}) == (None, None)
    assert recorded_definition(live_claim("", "")) == (None, None)
    assert recorded_definition(live_claim("one", "abc")) == ("one", "abc")


def test_differing_params_names_keys_set_on_one_side_only_or_differently() -> None:
    assert differing_params({"a": 1, "b": 2}, {"a": 1, "c": None}) == ("b", "c")
    assert differing_params(None, {}) == ()
    assert differing_params({"x": {"y": 1}}, {"x": {"y": 2}}) == ("x",)


# -- identities compared whole ---------------------------------------------------------


def test_identity_of_agrees_with_resource_identity() -> None:
    wl = workload("one", resources={"db": {"type": "postgres", "class": "large", "id": "main"}})
    request = (wl.spec.resources or {})["db"]
    assert identity_of("one", "db", "postgres", "large", "main") == resource_identity(
        "one", "db", request
    )


def test_class_is_part_of_a_shared_identity() -> None:
    plain = identity_of("a", "db", "postgres", None, "main")
    large = identity_of("b", "db", "postgres", "large", "main")
    assert plain != large
    # ...and the Workload is not: two Workloads with the same type, class and id share.
    assert identity_of("a", "db", "postgres", "large", "main") == large


def test_identities_of_a_raw_spec_skip_what_does_not_validate() -> None:
    spec = {
        "resources": {
            "db": {"type": "postgres", "id": "main"},
            "cache": {"type": "redis"},
            "broken": "not a map",
            "typeless": {"id": "x"},
        }
    }
    found = identities_of_spec("one", spec)
    assert set(found) == {"db", "cache"}
    assert found["db"] == identity_of("zzz", "db", "postgres", None, "main")
    assert identities_of_spec("one", None) == {}


def test_a_changed_id_or_class_is_a_removed_resource() -> None:
    previous = [
        {"name": "db", "type": "postgres", "id": "main"},
        {"name": "cache", "type": "redis", "class": "dev", "id": "c"},
        {"name": "files", "type": "volume"},
    ]
    now = identities_of_spec(
        "one",
        {
            "resources": {
                "db": {"type": "postgres", "id": "other"},  # id changed
                "cache": {"type": "redis", "id": "c"},  # class dropped
                "files": {"type": "volume"},  # unchanged
            }
        },
    )
    removed = removed_entries("one", previous, now)
    assert [e["name"] for e in removed] == ["db", "cache"]
    assert identity_of_entry("one", previous[2]) == now["files"]
    assert identity_of_entry("one", {"name": "x"}) is None
