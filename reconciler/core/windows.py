"""Maintenance windows and deny windows (change freezes). Pure: the clock is always a parameter.

Two kinds of window:

- ``WeeklyWindow``: on some days of the week, from ``start`` to ``end`` local wall-clock time in an IANA time
  zone. ``days`` are the days the window *opens*; when ``end`` is not after ``start`` the window runs across
  midnight into the next day (``sat 22:00-02:00`` is open Saturday 22:00 to Sunday 02:00). An end of
  ``24:00`` means midnight at the end of the day. Wall-clock times follow daylight saving: a 01:00-05:00
  window is 01:00-05:00 on the clock on every day, so it lasts 3 or 5 real hours on the nights the clocks
  change, and a time the clock skips never occurs.
- ``DateWindow``: an absolute period ``[starts, ends)`` (a change freeze over the holidays).

A ``Schedule`` combines a group's maintenance windows (none = always allowed) and deny windows (any open
deny window closes the schedule, whatever the maintenance windows say).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# The longest duration anything accepts: beyond it a typo ("999999999d") would overflow the clock's
# arithmetic far from where it was written.
MAX_DURATION = timedelta(days=365)
# Weekly windows repeat every 7 days; 8 days of boundaries (plus the day before) cover every change.
_HORIZON_DAYS = 8

OUTSIDE_WINDOW = "outside-window"
CHANGE_FREEZE = "change-freeze"


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ValueError`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin' or 'UTC')"
        ) from None


def parse_clock(text: str) -> int:
    """``"HH:MM"`` (``00:00`` to ``24:00``) to minutes after midnight."""
    if not isinstance(text, str) or not _CLOCK.match(text):
        raise ValueError(f"not a time of day: {text!r} (expected HH:MM, 00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_days(items: Iterable[str]) -> frozenset[int]:
    """Day names (``mon``, ``monday``, case-insensitive), ranges (``mon-fri``, ``fri-mon`` wraps) or
    ``daily``, to weekday numbers (Monday = 0)."""
    out: set[int] = set()
    for item in items:
        word = str(item).strip().lower()
        if word in ("daily", "*", "every day"):
            out.update(range(7))
            continue
        first, sep, last = word.partition("-")
        a = _day(first)
        if not sep:
            out.add(a)
            continue
        b = _day(last)
        span = (b - a) % 7
        out.update((a + i) % 7 for i in range(span + 1))
    return frozenset(out)


def _day(word: str) -> int:
    word = word.strip()
    if word in DAY_NAMES:
        return DAY_NAMES.index(word)
    if word in _LONG_DAY_NAMES:
        return _LONG_DAY_NAMES.index(word)
    raise ValueError(f"not a day of the week: {word!r} (use mon, tue, ... or mon-fri)")


def parse_duration(value: object, *, maximum: timedelta = MAX_DURATION) -> timedelta:
    """A duration: whole seconds as an integer, or text like ``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``;
    from 0 to ``maximum`` (365 days unless told)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value}")
        seconds = value
    else:
        m = _DURATION.match(value.strip().lower()) if isinstance(value, str) else None
        if not m or not any(m.groups()):
            raise ValueError(f"not a duration: {_cut(value)} (use e.g. 30m, 2h, 1d or seconds)")
        # Thirteen significant digits of any unit already exceed the limit; int() of more is not needed.
        d, h, mi, s = (int(g.lstrip("0")[:13] or "0") if g else 0 for g in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if seconds > maximum.total_seconds():
        raise ValueError(f"{_cut(value)} is longer than the limit of {format_duration(maximum)}")
    return timedelta(seconds=seconds)


def _cut(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def format_duration(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts)


def parse_local_datetime(text: str, tz: str) -> datetime:
    """ISO date or date-time; without an offset it is local time in ``tz``. Returns an aware datetime."""
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(
            f"not a date or date-time: {text!r} (expected e.g. 2026-12-15 or 2026-12-15T18:00)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the clock must be timezone-aware (pass e.g. datetime.now(UTC))")


@dataclass(frozen=True)
class WeeklyWindow:
    """Open on ``days`` (Monday = 0) from ``start`` to ``end`` minutes after local midnight in ``timezone``.

    ``end <= start`` runs across midnight; ``end == 1440`` is midnight at the end of the day. A window with
    ``start == end`` is rejected (write ``00:00``-``24:00`` for a whole day).
    """

    days: frozenset[int]
    start: int
    end: int
    timezone: str = "UTC"
    name: str = ""

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("a weekly window needs at least one day of the week")
        if not (0 <= self.start < _MINUTES_PER_DAY and 0 < self.end <= _MINUTES_PER_DAY):
            raise ValueError("window start must be 00:00-23:59 and end 00:01-24:00")
        if self.start == self.end:
            raise ValueError("window start and end are equal; use 00:00-24:00 for a whole day")
        zone(self.timezone)

    @property
    def across_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, now: datetime) -> bool:
        _check_aware(now)
        local = now.astimezone(zone(self.timezone))
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        start, end = self.start * 60, self.end * 60
        weekday = local.weekday()
        if not self.across_midnight:
            return weekday in self.days and start <= seconds < end
        return (weekday in self.days and seconds >= start) or (
            (weekday - 1) % 7 in self.days and seconds < end
        )

    def boundaries(self, now: datetime) -> list[datetime]:
        """Moments after ``now`` (within 8 days) when this window may open or close."""
        tz = zone(self.timezone)
        today = now.astimezone(tz).date()
        out = []
        for offset in range(-1, _HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            end_day = day + timedelta(days=1) if self.across_midnight or self.end == _MINUTES_PER_DAY else day
            for d, minute in ((day, self.start), (end_day, self.end % _MINUTES_PER_DAY)):
                out.append(_local(d, minute, tz))
        return [b for b in out if b > now]

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days)) if len(self.days) < 7 else "daily"
        label = f"{self.name}: " if self.name else ""
        return f"{label}{days} {format_clock(self.start)}-{format_clock(self.end)} {self.timezone}"


@dataclass(frozen=True)
class DateWindow:
    """Open from ``starts`` (inclusive) to ``ends`` (exclusive); both timezone-aware."""

    starts: datetime
    ends: datetime
    name: str = ""

    def __post_init__(self) -> None:
        _check_aware(self.starts)
        _check_aware(self.ends)
        if self.ends <= self.starts:
            raise ValueError("a date window must end after it starts")

    def contains(self, now: datetime) -> bool:
        _check_aware(now)
        return self.starts <= now < self.ends

    def boundaries(self, now: datetime) -> list[datetime]:
        return [b for b in (self.starts, self.ends) if b > now]

    def describe(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"{label}{self.starts.isoformat()} to {self.ends.isoformat()}"


Window = WeeklyWindow | DateWindow


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    # A wall-clock time skipped by a DST change resolves to the same UTC instant as the previous offset
    # would give; callers re-check the state at each boundary, so an imprecise boundary only costs a wake-up.
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class WindowState:
    """Whether a schedule allows work at a moment; when closed, ``reason`` is ``outside-window`` or
    ``change-freeze`` and ``detail`` names the window. ``next_change`` is when that flips (None = not
    within the next 8 days for weekly windows, or never)."""

    open: bool
    reason: str | None = None
    detail: str = ""
    next_change: datetime | None = None


@dataclass(frozen=True)
class Schedule:
    """A group's maintenance windows (empty = always allowed) and deny windows."""

    maintenance: tuple[Window, ...] = ()
    deny: tuple[Window, ...] = ()

    def _at(self, now: datetime) -> tuple[bool, str | None, str]:
        for w in self.deny:
            if w.contains(now):
                return False, CHANGE_FREEZE, w.describe()
        if not self.maintenance or any(w.contains(now) for w in self.maintenance):
            return True, None, ""
        return False, OUTSIDE_WINDOW, "; ".join(w.describe() for w in self.maintenance)

    def state(self, now: datetime) -> WindowState:
        """The schedule's state at ``now`` (timezone-aware), with the next moment it changes."""
        _check_aware(now)
        is_open, reason, detail = self._at(now)
        candidates = sorted({b for w in (*self.maintenance, *self.deny) for b in w.boundaries(now)})
        next_change = next((c for c in candidates if self._at(c)[0] != is_open), None)
        return WindowState(is_open, reason, detail, next_change)
