"""Schedules and on-call shifts → rotations (with active windows) and overrides.

Grafana's shift times carry no offset: they are wall times in the shift's
``time_zone``, or UTC when it is null. A ``rolling_users`` shift hands over to the
next group of users every ``interval`` days or weeks; a ``recurrent_event`` is the
same users every time. Each slot of a group of several users becomes that many
parallel rotations (the group's first user in the first, its second in the second…):
the people on call at any instant are the same set. A shift shorter than its period,
or restricted to days (``by_day``), gets active windows, which repeat weekly.

A schedule with levels becomes the rotations of every level; ``ctx.schedules`` keeps
them per level, the highest first, for the policy steps (``chains``). Overrides
(which beat every level in Grafana) become an override on each of the schedule's
rotations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from escalation.grafana.context import Context

DAY = 86400
DAY_CODES = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MINUTES = 7 * 24 * 60


def _local(value: str, tz_name: str | None) -> datetime:
    """A Grafana wall time (no offset) in the shift's time zone, UTC when null."""
    naive = datetime.fromisoformat(value).replace(tzinfo=None)
    return naive.replace(tzinfo=ZoneInfo(tz_name) if tz_name else UTC)


def weekly_windows(
    days: list[int], start_minute: int, length_minutes: int
) -> list[dict[str, Any]] | None:
    """Active windows for a shift of ``length_minutes`` starting at ``start_minute`` past
    midnight on each of ``days``; None when the pieces would overlap (not a window set)."""
    spans = sorted(
        (d * 1440 + start_minute, d * 1440 + start_minute + length_minutes) for d in days
    )
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        return None
    if spans and spans[-1][1] - WEEK_MINUTES > spans[0][0]:
        return None
    pieces: dict[tuple[int, int], list[int]] = {}  # (start, end) minutes of day → days
    for lo, hi in spans:
        # A window is at most a day long (an end at or before its start is the next day's):
        # a longer shift is cut at midnights.
        while lo < hi:
            cut = hi if hi - lo <= 1440 else (lo // 1440 + 1) * 1440
            pieces.setdefault((lo % 1440, (cut - lo + lo % 1440)), []).append((lo // 1440) % 7)
            lo = cut
    windows = []
    for (lo, hi), on in sorted(pieces.items(), key=lambda item: (min(item[1]), item[0])):
        end = hi % 1440  # past midnight: a window ending at or before its start
        windows.append(
            {
                "days": [DAY_NAMES[d] for d in sorted(set(on))],
                "start": f"{lo // 60:02d}:{lo % 60:02d}",
                "end": f"{end // 60:02d}:{end % 60:02d}",
            }
        )
    return windows


class Skip(Exception):
    """The shift cannot be represented; the message says why."""


def _groups(shift: dict[str, Any]) -> list[list[str]]:
    if shift.get("type") == "rolling_users":
        return [list(g) for g in shift.get("rolling_users") or [] if g]
    users = list(shift.get("users") or [])
    return [users] if users else []


def _windows(shift: dict[str, Any], start: datetime, period: int, duration: int) -> Any:
    """The windows a shift needs (None: always active); raises Skip when not weekly."""
    by_day = shift.get("by_day") or None
    if by_day is None and duration == period:
        return None
    if by_day is None and duration > period:
        raise Skip(f"its shifts ({duration} s) are longer than its period ({period} s) and overlap")
    frequency, interval = shift.get("frequency"), int(shift.get("interval") or 1)
    if interval != 1 or frequency not in ("daily", "weekly"):
        raise Skip(
            f"it is on call only part of the time with a {interval}-{frequency} pattern; "
            "active windows repeat every week"
        )
    if by_day is not None:
        unknown = [d for d in by_day if d not in DAY_CODES]
        if unknown:
            raise Skip(f"by_day {unknown} are not days")
        days = sorted(DAY_CODES[d] for d in by_day)
    else:
        days = list(range(7)) if frequency == "daily" else [start.weekday()]
    windows = weekly_windows(days, start.hour * 60 + start.minute, duration // 60)
    if windows is None:
        raise Skip(f"its {duration} s shifts on {by_day or 'each day'} overlap")
    if duration % 60 or start.second:
        raise Skip("its shifts start or end between minutes")
    return windows


def map_shift(ctx: Context, shift: dict[str, Any], team: str | None) -> list[dict[str, Any]]:
    """The parallel rotations of one shift; raises Skip when it cannot be represented."""
    kind = shift.get("type")
    if kind not in ("rolling_users", "recurrent_event"):
        raise Skip(f"type {kind} has no equivalent (rotations repeat)")
    frequency = shift.get("frequency")
    interval = int(shift.get("interval") or 1)
    if frequency not in ("daily", "weekly"):
        raise Skip(f"frequency {frequency}: rotations hand over after whole days or weeks")
    if shift.get("by_month") or shift.get("by_monthday"):
        raise Skip("by_month/by_monthday have no equivalent")
    try:
        start = _local(str(shift["start"]), shift.get("time_zone"))
    except (KeyError, ValueError, ZoneInfoNotFoundError) as error:
        raise Skip(f"its start or time zone cannot be read ({error})") from None
    duration = int(shift.get("duration") or 0)
    period_days = interval * (7 if frequency == "weekly" else 1)
    windows = _windows(shift, start, period_days * DAY, duration)
    groups = _groups(shift)
    if not groups:
        raise Skip("it has no users")
    unknown = {u for g in groups for u in g if u not in ctx.people}
    if unknown:
        raise Skip(f"it names users the API did not list: {', '.join(sorted(unknown))}")
    offset = int(shift.get("start_rotation_from_user_index") or 0) % len(groups)
    orders = [[g[i] if i < len(g) else g[0] for g in groups] for i in range(max(map(len, groups)))]
    if any(len(set(order)) < len(order) for order in orders):
        raise Skip(
            "a user comes back in the order within one turn of the rotation; here a person "
            "appears once in a rotation's members"
        )
    name = str(shift.get("name") or shift["id"])
    subject = f'shift "{name}"'
    width = max(len(g) for g in groups)
    if width > 1:
        ctx.report.partial(
            subject,
            f"groups of up to {width} users are on call together; here each rotation has one "
            f"person per shift, so it became {width} parallel rotations (the i-th user of "
            "each group in the i-th), paged together: the same people are on call."
            + (
                " Smaller groups repeat their first user to fill the slot."
                if any(len(g) < width for g in groups)
                else ""
            ),
        )
    if shift.get("until"):
        ctx.report.partial(subject, f"ends on {shift['until']} in Grafana; here it goes on")
    if shift.get("rotation_start") and shift["rotation_start"] != shift.get("start"):
        ctx.report.partial(
            subject,
            f"rotation_start {shift['rotation_start']} differs from start {shift.get('start')}: "
            "here the rotation starts at start",
        )
    if kind == "rolling_users" and shift.get("by_day") and frequency == "daily" and len(groups) > 1:
        ctx.report.partial(
            subject,
            f"a daily rotation on {', '.join(shift['by_day'])} only: here every calendar day is "
            "a turn (the days outside by_day too, with nobody on call); compare the imported "
            "shifts with Grafana's if it hands over only on those days",
        )
    if kind == "rolling_users" and shift.get("by_day") and shift.get("week_start"):
        first = DAY_CODES.get(str(shift["week_start"]))
        if first is not None and first != start.weekday():
            ctx.report.partial(
                subject,
                f"Grafana counts weeks from {shift['week_start']}; here the group changes on "
                "the first shift's weekday",
            )
    rotations = []
    for i in range(width):
        label = name if i == 0 else f"{name} ({i + 1})"
        version: dict[str, Any] = {
            "effective_from": start.date().isoformat(),
            "members": [ctx.people[user] for user in orders[i]],
            # The same users every time (recurrent_event): any shift length does.
            "shift_days": period_days if kind == "rolling_users" else 7,
            "handoff_time": f"{start.hour:02d}:{start.minute:02d}",
            "timezone": str(start.tzinfo),
            "offset": offset,
        }
        if windows is not None:
            version["active_windows"] = windows
        rotations.append(
            {
                "slug": ctx.slug("rotation", label, fallback=str(shift["id"]).lower()),
                "name": label,
                "team": team,
                "versions": [version],
            }
        )
    return rotations


def _override(ctx: Context, shift: dict[str, Any], levels: list[list[str]]) -> list[dict[str, Any]]:
    name = str(shift.get("name") or shift["id"])
    users = [u for u in shift.get("users") or [] if u in ctx.people]
    if not users:
        ctx.report.not_imported(f'override "{name}"', "it names no user the API listed")
        return []
    start = _local(str(shift["start"]), shift.get("time_zone")).astimezone(UTC)
    end = start + timedelta(seconds=int(shift.get("duration") or 0))
    if end <= ctx.now:
        ctx.report.not_imported(
            f'override "{name}"',
            f"it ended at {end:%Y-%m-%d %H:%M} UTC: history, not configuration",
        )
        return []
    found = []
    for rotations in levels:
        if len(users) > len(rotations):
            ctx.report.partial(
                f'override "{name}"',
                f"{len(users)} users, but {len(rotations)} parallel rotation(s) at a level: "
                f"{', '.join(ctx.user_name(u) for u in users[len(rotations) :])} left out there",
            )
        for i, rotation in enumerate(rotations):
            found.append(
                {
                    "rotation": rotation,
                    "person": ctx.people[users[i] if i < len(users) else users[0]],
                    "start": start.isoformat().replace("+00:00", "Z"),
                    "end": end.isoformat().replace("+00:00", "Z"),
                    "reason": name[:500],
                }
            )
    return found


def map_schedules(ctx: Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rotations: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []
    shifts = ctx.items("on_call_shifts")
    for schedule in ctx.items("schedules"):
        name = str(schedule.get("name") or schedule["id"])
        ctx.schedule_names[schedule["id"]] = name
        subject = f'schedule "{name}"'
        team = ctx.teams.get(str(schedule.get("team_id")))
        if schedule.get("type") == "ical":
            ctx.report.not_imported(
                subject,
                "its shifts come from an external iCal calendar "
                f"({schedule.get('ical_url_primary')}): rotations here are defined here; "
                "recreate it as a rotation by hand",
            )
            continue
        if schedule.get("ical_url_overrides"):
            ctx.report.not_imported(
                f"{subject} overrides calendar",
                f"overrides from {schedule['ical_url_overrides']} are not read",
            )
        own = [
            s
            for s in shifts
            if s.get("schedule") == schedule["id"] or s.get("id") in (schedule.get("shifts") or [])
        ]
        by_level: dict[int, list[str]] = {}
        for shift in own:
            if shift.get("type") == "override":
                continue
            try:
                mapped = map_shift(ctx, shift, team)
            except Skip as skip:
                ctx.report.not_imported(f'{subject}, shift "{shift.get("name")}"', str(skip))
                continue
            rotations.extend(mapped)
            by_level.setdefault(int(shift.get("level") or 0), []).extend(r["slug"] for r in mapped)
        levels = [by_level[level] for level in sorted(by_level, reverse=True)]
        ctx.schedules[schedule["id"]] = levels
        if len(levels) > 1:
            ctx.report.partial(
                subject,
                f"{len(levels)} levels: each level's rotations are separate here; escalation "
                "steps that page the schedule page the higher level first and the lower one "
                "when the higher has nobody (see the steps' entries)",
            )
        for shift in own:
            if shift.get("type") == "override":
                if levels:
                    overrides.extend(_override(ctx, shift, levels))
                else:
                    ctx.report.not_imported(
                        f'{subject}, override "{shift.get("name")}"', "the schedule has no rotation"
                    )
        if not levels:
            ctx.report.not_imported(subject, "none of its shifts could be imported")
    return rotations, overrides
