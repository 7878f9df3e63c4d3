"""A preview's TTL, with times given (the clock is the caller's)."""

from __future__ import annotations

import datetime

import pytest

from berth.api.preview import PreviewPolicy, parse_duration
from berth.preview.expiry import Step, change_digest, decide, last_change, warning_lead

T0 = datetime.datetime(2030, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
H = datetime.timedelta(hours=1)


def wl(name: str, generation: int, uid: str = "u") -> dict[str, object]:
    return {"metadata": {"name": name, "uid": uid, "generation": generation}}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("36h", 129600),
        ("1h30m", 5400),
        ("7d", 604800),
        ("45s", 45),
        ("1d12h", 129600),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1 hour", "not a duration"),
        ("1.5h", "not a duration"),
        ("h", "not a duration"),
        ("", "not a duration"),
        ("0h", "no time at all"),
        ("400d", "longer than a year"),
    ],
)
def test_bad_durations_say_what_a_duration_is(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


def test_the_base_policy_defaults() -> None:
    assert PreviewPolicy().default_ttl_value() == "72h"
    assert PreviewPolicy(max_ttl="24h").default_ttl_value() == "24h"
    assert PreviewPolicy(max_ttl="200h").default_ttl_value() == "72h"
    assert PreviewPolicy(default_ttl="8h", max_ttl="24h").default_ttl_value() == "8h"
    assert PreviewPolicy().warning() == H
    assert PreviewPolicy().ttl_cap() is None


def test_the_digest_moves_with_a_change_and_only_then() -> None:
    one = change_digest(1, [wl("a", 1), wl("b", 2)])
    assert one == change_digest(1, [wl("b", 2), wl("a", 1)])
    assert one != change_digest(2, [wl("a", 1), wl("b", 2)])  # the preview changed
    assert one != change_digest(1, [wl("a", 2), wl("b", 2)])  # a Workload's spec changed
    assert one != change_digest(1, [wl("a", 1)])  # one went
    assert one != change_digest(1, [wl("a", 1), wl("b", 2, uid="v")])  # re-created


def test_the_last_change_is_read_back_not_restarted() -> None:
    created = T0
    now = T0 + 5 * H
    # No status yet: counted from creation, however late the first look is.
    assert last_change(None, "d1", created, now) == created
    recorded = {"lastChange": "2030-01-01T13:00:00Z", "changeDigest": "d1"}
    # A restart, a shard move: the same digest reads the same time back.
    assert last_change(recorded, "d1", created, now) == T0 + H
    # A change: now.
    assert last_change(recorded, "d2", created, now) == now
    assert (
        last_change({"lastChange": "garbage", "changeDigest": "d1"}, "d1", created, now) == created
    )


def test_wait_warn_expire() -> None:
    ttl, warning = 10 * H, H
    early = decide(changed=T0, ttl=ttl, warning=warning, kept=False, warned_for=None, now=T0 + H)
    assert early.step is Step.WAIT
    assert early.expires_at == T0 + ttl
    assert early.next_check == (8 * H).total_seconds()  # until the warning is due
    due = decide(changed=T0, ttl=ttl, warning=warning, kept=False, warned_for=None, now=T0 + 9 * H)
    assert due.step is Step.WARN
    assert due.next_check == H.total_seconds()
    warned = decide(
        changed=T0,
        ttl=ttl,
        warning=warning,
        kept=False,
        warned_for="2030-01-01T22:00:00Z",
        now=T0 + 9 * H,
    )
    assert warned.step is Step.WAIT
    assert warned.next_check == H.total_seconds()
    late = decide(changed=T0, ttl=ttl, warning=warning, kept=False, warned_for=None, now=T0 + ttl)
    assert late.step is Step.EXPIRE
    kept = decide(changed=T0, ttl=ttl, warning=warning, kept=True, warned_for=None, now=T0 + 99 * H)
    assert kept.step is Step.KEEP
    assert kept.expires_at is None
    assert kept.next_check is None


def test_the_warning_is_at_most_half_the_ttl() -> None:
    assert warning_lead(10 * H, H) == H
    assert warning_lead(datetime.timedelta(minutes=30), H) == datetime.timedelta(minutes=15)


def test_status_of_the_ttl() -> None:
    result = decide(changed=T0, ttl=2 * H, warning=H, kept=False, warned_for=None, now=T0)
    assert result.status("2h", "d", None) == {
        "ttl": "2h",
        "lastChange": "2030-01-01T12:00:00Z",
        "changeDigest": "d",
        "expiresAt": "2030-01-01T14:00:00Z",
    }
    kept = decide(changed=T0, ttl=2 * H, warning=H, kept=True, warned_for=None, now=T0)
    assert kept.status("2h", "d", "x")["kept"] is True
    assert kept.status("2h", "d", "x")["warnedFor"] == "x"
    assert "expiresAt" not in kept.status("2h", "d", None)


@pytest.mark.parametrize(
    "text", ["1h", "90m", "1h30m", "7d", "1x", "h1", "1.5h", "", "99999h", "123456h", "1h 30m"]
)
def test_admission_and_the_operator_read_a_duration_alike(text: str) -> None:
    """One rule, one answer: the CRD's pattern (what `kubectl apply` refuses) and the
    operator's parser agree on what is written as a duration."""
    import re

    from berth.api.preview import DURATION_PATTERN

    admitted = re.fullmatch(DURATION_PATTERN, text) is not None
    try:
        parse_duration(text)
        parsed = True
    except ValueError as err:
        parsed = "not a duration" not in str(err)  # a duration, but out of range
    assert admitted == parsed
