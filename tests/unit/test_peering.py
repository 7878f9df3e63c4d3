"""Which live peers keep a replica standing by (berth.handlers.peering.outranked_by)."""

from __future__ import annotations

import datetime

from berth.handlers.peering import outranked_by

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


def test_a_dead_peer_outranks_nobody() -> None:
    status = {"gone": {"priority": 99, "lifetime": 10, "lastseen": seen(10.5)}}
    assert outranked_by(status, "me", 1, NOW) == []
    status["gone"]["lastseen"] = seen(9.5)
    assert outranked_by(status, "me", 1, NOW) == ["gone"]


def test_odd_entries_are_ignored_and_no_status_means_working() -> None:
    status = {
        "no-stamp": {"priority": 99, "lifetime": 10},
        "bad-stamp": {"priority": 99, "lifetime": 10, "lastseen": "yesterday"},
        "not-a-map": None,
        "zulu": {"priority": 99, "lifetime": 10, "lastseen": "2026-01-01T11:59:55Z"},
    }
    assert outranked_by(status, "me", 1, NOW) == ["zulu"]
    assert outranked_by(None, "me", 1, NOW) == []
