"""Maintenance and deny windows: days, across midnight, time zones, daylight saving, next change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.windows import (
    CHANGE_FREEZE,
    OUTSIDE_WINDOW,
    DateWindow,
    Schedule,
    WeeklyWindow,
    format_duration,
    parse_clock,
    parse_days,
    parse_duration,
    parse_local_datetime,
    zone,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(text: str, tz: str = "UTC") -> datetime:
    """A moment given as local wall-clock time in ``tz``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone(tz))


def weekly(days: str, start: str, end: str, tz: str = "UTC") -> WeeklyWindow:
    return WeeklyWindow(parse_days(days.split(",")), parse_clock(start), parse_clock(end), tz)


# 2026-11-28 is a Saturday.
SAT_NIGHT = weekly("sat", "01:00", "05:00", BERLIN)
ACROSS = weekly("sat", "22:00", "02:00", BERLIN)


@pytest.mark.parametrize(
    "window, moment, tz, inside",
    [
        (SAT_NIGHT, "2026-11-28T01:00", BERLIN, True),
        (SAT_NIGHT, "2026-11-28T04:59:59", BERLIN, True),
        (SAT_NIGHT, "2026-11-28T05:00", BERLIN, False),
        (SAT_NIGHT, "2026-11-28T00:59", BERLIN, False),
        (SAT_NIGHT, "2026-11-29T02:00", BERLIN, False),  # Sunday
        (SAT_NIGHT, "2026-11-28T00:30", "UTC", True),  # 01:30 in Berlin (UTC+1)
        (SAT_NIGHT, "2026-11-27T19:30", NEW_YORK, True),  # Friday evening in New York = Saturday 01:30 Berlin
        (ACROSS, "2026-11-28T23:00", BERLIN, True),
        (ACROSS, "2026-11-29T01:59", BERLIN, True),  # Sunday, the tail of Saturday's window
        (ACROSS, "2026-11-29T02:00", BERLIN, False),
        (ACROSS, "2026-11-28T01:00", BERLIN, False),  # Saturday early morning: Friday has no window
        (ACROSS, "2026-11-29T22:30", BERLIN, False),  # Sunday night: not a listed day
        (weekly("sun", "00:00", "24:00"), "2026-11-29T23:59:59", "UTC", True),
        (weekly("sun", "00:00", "24:00"), "2026-11-30T00:00", "UTC", False),
        (weekly("sun", "18:00", "24:00"), "2026-11-30T00:00", "UTC", False),
        (weekly("fri-mon", "10:00", "11:00"), "2026-11-30T10:30", "UTC", True),  # wrapping range incl. Monday
        (weekly("fri-mon", "10:00", "11:00"), "2026-12-01T10:30", "UTC", False),  # Tuesday
    ],
)
def test_weekly_contains(window: WeeklyWindow, moment: str, tz: str, inside: bool) -> None:
    assert window.contains(at(moment, tz)) is inside


def test_dst_spring_forward_night_is_shorter_but_same_wall_clock() -> None:
    """Europe/Berlin skips 02:00-03:00 on Sunday 2027-03-28: an 01:00-05:00 window still opens and closes
    on the wall clock and lasts 3 real hours."""
    window = weekly("sun", "01:00", "05:00", BERLIN)
    opens = at("2027-03-28T01:00", BERLIN)
    closes = at("2027-03-28T05:00", BERLIN)
    assert closes.astimezone(UTC) - opens.astimezone(UTC) == timedelta(hours=3)
    assert window.contains(opens) and not window.contains(closes)
    assert window.contains(at("2027-03-28T01:30", "UTC"))  # 03:30 local (CEST)


def test_dst_fall_back_repeated_hour_is_inside_both_times() -> None:
    """On Sunday 2026-10-25 Berlin runs 02:00-03:00 twice; both are inside a 01:00-05:00 window."""
    window = weekly("sun", "01:00", "05:00", BERLIN)
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert window.contains(first) and window.contains(second)
    assert window.contains(datetime(2026, 10, 25, 3, 59, tzinfo=UTC))  # 04:59 CET
    assert not window.contains(datetime(2026, 10, 25, 4, 0, tzinfo=UTC))  # 05:00 CET


def test_dst_across_midnight_window_in_new_york() -> None:
    window = weekly("sat", "23:00", "03:00", NEW_YORK)  # clocks go back on Sunday 2026-11-01 at 02:00
    assert window.contains(at("2026-11-01T02:30", NEW_YORK))
    assert Schedule((window,)).state(at("2026-10-31T23:30", NEW_YORK)).next_change == at(
        "2026-11-01T03:00", NEW_YORK
    )
    real = at("2026-11-01T03:00", NEW_YORK).astimezone(UTC) - at("2026-10-31T23:00", NEW_YORK).astimezone(UTC)
    assert real == timedelta(hours=5)


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SAT_NIGHT.contains(datetime(2026, 11, 28, 2, 0))


@pytest.mark.parametrize(
    "args, message",
    [
        ((frozenset(), 60, 120), "at least one day"),
        ((frozenset({5}), 60, 60), "equal"),
        ((frozenset({5}), 1440, 60), "start must be"),
        ((frozenset({5}), 60, 120, "Mars/Olympus"), "unknown time zone"),
    ],
)
def test_weekly_window_refuses(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeeklyWindow(*args)


def test_date_window() -> None:
    freeze = DateWindow(
        parse_local_datetime("2026-12-15", BERLIN),
        parse_local_datetime("2027-01-05T00:00", BERLIN),
        "year end",
    )
    assert freeze.contains(at("2026-12-15T00:00", BERLIN))
    assert not freeze.contains(at("2026-12-14T23:59", BERLIN))
    assert not freeze.contains(at("2027-01-05T00:00", BERLIN))
    assert "year end" in freeze.describe()
    with pytest.raises(ValueError, match="end after"):
        DateWindow(freeze.ends, freeze.starts)


def test_schedule_without_windows_is_always_open() -> None:
    state = Schedule().state(at("2026-11-28T12:00"))
    assert state.open and state.reason is None and state.next_change is None


def test_schedule_outside_window_with_next_opening() -> None:
    schedule = Schedule((SAT_NIGHT,))
    state = schedule.state(at("2026-11-27T12:00", BERLIN))
    assert not state.open and state.reason == OUTSIDE_WINDOW
    assert "sat 01:00-05:00 Europe/Berlin" in state.detail
    assert state.next_change == at("2026-11-28T01:00", BERLIN)
    inside = schedule.state(at("2026-11-28T02:00", BERLIN))
    assert inside.open and inside.next_change == at("2026-11-28T05:00", BERLIN)


def test_deny_window_wins_over_maintenance_window() -> None:
    freeze = DateWindow(at("2026-11-28T00:00", BERLIN), at("2026-11-28T03:00", BERLIN), "freeze")
    schedule = Schedule((SAT_NIGHT,), (freeze,))
    state = schedule.state(at("2026-11-28T02:00", BERLIN))
    assert not state.open and state.reason == CHANGE_FREEZE and "freeze" in state.detail
    assert state.next_change == at("2026-11-28T03:00", BERLIN)
    assert schedule.state(at("2026-11-28T03:00", BERLIN)).open


def test_weekly_deny_window() -> None:
    schedule = Schedule((), (weekly("mon-fri", "08:00", "18:00", BERLIN),))
    assert not schedule.state(at("2026-11-30T09:00", BERLIN)).open
    assert schedule.state(at("2026-11-30T19:00", BERLIN)).open


def test_next_change_never_for_a_freeze_that_ended() -> None:
    freeze = DateWindow(at("2026-01-01T00:00"), at("2026-01-02T00:00"))
    state = Schedule((), (freeze,)).state(at("2026-11-28T00:00"))
    assert state.open and state.next_change is None


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_next_change_really_changes_and_nothing_changes_before(now: datetime) -> None:
    schedule = Schedule((ACROSS, weekly("wed", "03:00", "04:00", NEW_YORK)))
    state = schedule.state(now)
    assert state.next_change is not None and state.next_change > now
    assert schedule.state(state.next_change).open != state.open
    probe = now + (state.next_change - now) / 2
    assert schedule.state(probe).open == state.open


@pytest.mark.parametrize(
    "items, days",
    [
        (["sat", "sun"], {5, 6}),
        (["Saturday"], {5}),
        (["mon-fri"], {0, 1, 2, 3, 4}),
        (["fri-mon"], {4, 5, 6, 0}),
        (["daily"], set(range(7))),
    ],
)
def test_parse_days(items: list[str], days: set[int]) -> None:
    assert parse_days(items) == frozenset(days)


@pytest.mark.parametrize("bad", ["funday", "mon-xyz"])
def test_parse_days_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="not a day"):
        parse_days([bad])


@pytest.mark.parametrize("text, minutes", [("00:00", 0), ("01:30", 90), ("23:59", 1439), ("24:00", 1440)])
def test_parse_clock(text: str, minutes: int) -> None:
    assert parse_clock(text) == minutes


@pytest.mark.parametrize("bad", ["24:01", "1:30", "25:00", "12:60", 90, "noon"])
def test_parse_clock_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="time of day"):
        parse_clock(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, seconds",
    [(0, 0), (90, 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)],
)
def test_parse_duration(value: object, seconds: int) -> None:
    delta = parse_duration(value)
    assert delta.total_seconds() == seconds
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("bad", ["", "2x", "h", -5, True, 1.5, "1h 30m"])
def test_parse_duration_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
