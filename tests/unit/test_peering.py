"""Which live peers keep a replica standing by, and when a replica stands by on its own
(berth.coordination.peering)."""

from __future__ import annotations

import datetime

from berth.coordination.peering import grace_seconds, outranked_by, own_keepalive_expired

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def seen(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).isoformat()


def test_a_live_peer_with_a_higher_or_equal_priority_outranks() -> None:
    status = {
        "me": {"priority": 10, "lifetime": 20, "lastseen": seen(1)},
        "higher": {"priority": 20, "lifetime": 20, "lastseen": seen(5)},
        "same": {"priority": 10, "lifetime": 20, "lastseen": seen(5)},
        "lower": {"priority": 5, "lifetime": 20, "lastseen": seen(5)},
    }
    assert outranked_by(status, "me", 10, NOW) == ["higher", "same"]


def test_a_dead_peer_outranks_nobody_once_the_grace_past_its_lifetime_is_over() -> None:
    # lifetime 10 s, grace 2.5 s: live until 12.5 s after its last keep-alive.
    assert grace_seconds(10) == 2.5
    status = {"gone": {"priority": 99, "lifetime": 10, "lastseen": seen(12.6)}}
    assert outranked_by(status, "me", 1, NOW) == []
    # Past its lifetime but within the grace: it may still be writing, slowly.
    status["gone"]["lastseen"] = seen(11)
    assert outranked_by(status, "me", 1, NOW) == ["gone"]
    status["gone"]["lastseen"] = seen(9.5)
    assert outranked_by(status, "me", 1, NOW) == ["gone"]


def test_the_grace_has_a_floor_and_grows_with_the_lifetime() -> None:
    assert grace_seconds(4) == 2.0
    assert grace_seconds(60) == 15.0


def test_a_replica_whose_own_keepalive_ran_out_stands_by_until_renewed() -> None:
    status = {"me": {"priority": 10, "lifetime": 10, "lastseen": seen(10.5)}}
    assert own_keepalive_expired(status, "me", NOW)
    # Before the standby's grace ends: the slow replica stopped first.
    assert outranked_by(status, "standby", 5, NOW) == ["me"]
    status["me"]["lastseen"] = seen(3)
    assert not own_keepalive_expired(status, "me", NOW)


def test_no_own_entry_yet_or_an_unreadable_one_is_not_expired() -> None:
    assert not own_keepalive_expired(None, "me", NOW)
    assert not own_keepalive_expired({"other": {"lastseen": seen(99)}}, "me", NOW)
    assert not own_keepalive_expired({"me": {"lifetime": 10, "lastseen": "soon"}}, "me", NOW)
    assert not own_keepalive_expired({"me": {"lifetime": True, "lastseen": seen(99)}}, "me", NOW)


def test_odd_entries_are_ignored_and_no_status_means_working() -> None:
    status = {
        "no-stamp": {"priority": 99, "lifetime": 10},
        "bad-stamp": {"priority": 99, "lifetime": 10, "lastseen": "yesterday"},
        "not-a-map": None,
        "zulu": {"priority": 99, "lifetime": 10, "lastseen": "2026-01-01T11:59:55Z"},
    }
    assert outranked_by(status, "me", 1, NOW) == ["zulu"]
    assert outranked_by(None, "me", 1, NOW) == []
