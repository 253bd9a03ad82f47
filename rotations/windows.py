"""Active windows: the days and daily hours in which a rotation has someone on call.

Pure, like ``rotations.schedule``: nothing here touches the database. A window is
days of the week plus a wall-clock range in the rotation's time zone; an ``end`` at
or before ``start`` runs past midnight into the next day (22:00–06:00 on ``mon`` is
Monday 22:00 to Tuesday 06:00; 00:00–00:00 is the whole day). No windows means always
active. Times that do not exist (spring forward) are read as many minutes later as
the clock skipped, ambiguous ones (fall back) as their first occurrence, like
handoffs. The rules are written down in docs/rotations.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
WEEK_MINUTES = 7 * 24 * 60
MAX_WINDOWS = 50

Span = tuple[datetime, datetime]


class WindowError(ValueError):
    """Invalid windows: ``errors`` maps a field path (``active_windows[1].start``)
    to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]  # 0 = Monday, sorted, no repeats
    start: time
    end: time  # at or before start: the window ends the next day

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [DAYS[d] for d in self.days],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
        }

    def week_minutes(self) -> list[tuple[int, int]]:
        """The window's spans in minutes from Monday 00:00, wrapping at the week's end."""
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        length = end - start + (24 * 60 if self.overnight else 0)
        found = []
        for day in self.days:
            lo = day * 24 * 60 + start
            hi = lo + length
            if hi <= WEEK_MINUTES:
                found.append((lo, hi))
            else:  # Sunday night into Monday morning
                found += [(lo, WEEK_MINUTES), (0, hi - WEEK_MINUTES)]
        return found


def _time(value: Any, path: str, errors: dict[str, list[str]]) -> time | None:
    match = HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        errors[path] = ["A wall-clock time written HH:MM (00:00 to 23:59)."]
        return None
    return time(int(match[1]), int(match[2]))


def parse(raw: Any, field: str = "active_windows") -> tuple[Window, ...]:
    """Windows from their JSON form (``[{"days": ["mon", …], "start": "HH:MM", "end":
    "HH:MM"}]``); raises ``WindowError`` keyed by field path for unknown days, bad times,
    no day, repeated days or overlapping windows."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WindowError({field: ["A list of windows."]})
    if len(raw) > MAX_WINDOWS:
        raise WindowError({field: [f"At most {MAX_WINDOWS} windows."]})
    errors: dict[str, list[str]] = {}
    found: list[Window] = []
    for i, item in enumerate(raw):
        path = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors[path] = ['An object {"days": [...], "start": "HH:MM", "end": "HH:MM"}.']
            continue
        unknown = sorted(set(item) - {"days", "start", "end"})
        if unknown:
            errors[path] = [f"Unknown key(s): {', '.join(map(str, unknown))}."]
        days = item.get("days")
        if not isinstance(days, list) or not days:
            errors[f"{path}.days"] = [f"At least one day of: {', '.join(DAYS)}."]
            days = []
        elif any(d not in DAYS for d in days):
            bad = [d for d in days if d not in DAYS]
            errors[f"{path}.days"] = [f"Unknown day(s) {bad!r}; use: {', '.join(DAYS)}."]
        elif len(set(days)) != len(days):
            errors[f"{path}.days"] = ["A day can appear only once."]
        start = _time(item.get("start"), f"{path}.start", errors)
        end = _time(item.get("end"), f"{path}.end", errors)
        if start is not None and end is not None and f"{path}.days" not in errors:
            found.append(Window(tuple(sorted(DAYS.index(d) for d in days)), start, end))
    if errors:
        raise WindowError(errors)
    _check_overlaps(found, field)
    return tuple(found)


def _check_overlaps(windows: Sequence[Window], field: str) -> None:
    spans = sorted(
        (lo, hi, i) for i, window in enumerate(windows) for lo, hi in window.week_minutes()
    )
    for (_, hi, i), (lo, _, j) in zip(spans, spans[1:], strict=False):
        if lo < hi:
            first, second = sorted((i, j))
            what = "itself" if i == j else f"{field}[{first}]"
            raise WindowError({f"{field}[{second}]": [f"Overlaps {what}."]})


def dump(windows: Iterable[Window]) -> list[dict[str, Any]]:
    return [w.as_dict() for w in windows]


def _utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def active(windows: Sequence[Window], tz: ZoneInfo, start: datetime, end: datetime) -> list[Span]:
    """The parts of [start, end) inside ``windows`` (all of it when there are none),
    merged and ordered. Each window is placed on its local days, so 09:00–17:00 stays
    09:00–17:00 on the wall clock across DST changes."""
    if start >= end:
        return []
    if not windows:
        return [(start, end)]
    first = start.astimezone(tz).date() - timedelta(days=1)  # an overnight window
    last = end.astimezone(tz).date()
    spans: list[Span] = []
    day = first
    while day <= last:
        for w in windows:
            if day.weekday() in w.days:
                lo = _utc(day, w.start, tz)
                hi = _utc(day + timedelta(days=int(w.overnight)), w.end, tz)
                lo, hi = max(lo, start), min(hi, end)
                if lo < hi:
                    spans.append((lo, hi))
        day += timedelta(days=1)
    spans.sort()
    merged: list[Span] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def describe(windows: Sequence[Window]) -> str:
    """``Mon–Fri 09:00–17:00; Sat 10:00–14:00`` (empty: always)."""
    parts = []
    for w in windows:
        runs: list[list[int]] = []
        for d in w.days:
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        names = ", ".join(
            DAYS[r[0]].title() if len(r) == 1 else f"{DAYS[r[0]].title()}–{DAYS[r[-1]].title()}"
            for r in runs
        )
        times = f"{w.start:%H:%M}–{w.end:%H:%M}"
        parts.append(f"{names} {times}" + (" (next day)" if w.overnight else ""))
    return "; ".join(parts)
