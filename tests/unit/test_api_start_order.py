"""The order Score's before entries ask for (berth.api.start_order)."""

from __future__ import annotations

from berth.api.start_order import start_order


def test_only_containers_with_before_entries_are_ordered() -> None:
    assert start_order({"main": set(), "migrate": {"main"}}) == ["migrate"]
    assert start_order({"main": set()}) == []


def test_a_container_starts_after_the_starters_that_name_it() -> None:
    # proxy must be up before migrate, which must complete before main
    order = start_order({"main": set(), "migrate": {"main"}, "proxy": {"migrate", "main"}})
    assert order == ["proxy", "migrate"]


def test_ties_are_broken_by_name() -> None:
    assert start_order({"main": set(), "b": {"main"}, "a": {"main"}}) == ["a", "b"]


def test_a_cycle_has_no_order() -> None:
    assert start_order({"main": set(), "a": {"b"}, "b": {"a"}}) is None
    assert start_order({"a": {"a"}}) is None
