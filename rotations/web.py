"""Web UI pages of rotations: the timeline of the coming weeks with its subscribe links,
overrides made from the page, and feed resets. Thin: selectors read, services write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from oncall.compression import uncompressed
from rotations import (
    acting,
    feeds,
    schedule,
    selectors,
    services,
    swap_services,
    web_swaps,
    windows,
)
from rotations.models import Override, Person, Rotation
from rotations.pages import WebRequest, action, back, page

WEEKS = 6
MAX_WEEKS = 26
COLOURS = 8
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class OverrideForm(forms.Form):
    """Someone covers the rotation from ``start`` to ``end`` (the viewer's local times)."""

    person = forms.ModelChoiceField(
        queryset=Person.objects.filter(active=True).order_by("name"),
        to_field_name="handle",
        label="Who covers",
    )
    start = forms.DateTimeField(
        input_formats=LOCAL_FORMATS,
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMATS[0]),
    )
    end = forms.DateTimeField(
        input_formats=LOCAL_FORMATS,
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMATS[0]),
    )
    reason = forms.CharField(required=False, max_length=500, label="Reason (optional)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end <= start:
                self.add_error("end", "Must be after the start.")
            elif end <= timezone.now():
                self.add_error("end", "Must be in the future.")
            elif end - start > timedelta(days=366):
                self.add_error("end", "An override can last at most a year.")
        return data


@dataclass
class Bar:
    shift: schedule.Shift
    left: float
    width: float


@dataclass
class Lane:
    person: Any
    colour: int
    bars: list[Bar] = field(default_factory=list)


def _percent(moment: datetime, start: datetime, end: datetime) -> float:
    share = (moment - start) / (end - start)
    return round(100 * min(max(share, 0.0), 1.0), 3)


def lanes(shifts: list[schedule.Shift], start: datetime, end: datetime) -> list[Lane]:
    """One lane per person (first shift first), bars placed in percent of [start, end)."""
    found: dict[int, Lane] = {}
    for shift in shifts:
        if shift.person is None:
            continue
        lane = found.setdefault(shift.person.pk, Lane(shift.person, len(found) % COLOURS))
        left = _percent(shift.start, start, end)
        lane.bars.append(Bar(shift, left, _percent(shift.end, start, end) - left))
    return list(found.values())


def day_ticks(start: datetime, end: datetime, weeks: int) -> list[dict[str, Any]]:
    """Local midnights in (start, end): their place, whether they start a week, and
    whether they carry a date label (about six labels, so they never overlap)."""
    tz = timezone.get_current_timezone()
    day = start.astimezone(tz).date() + timedelta(days=1)
    every = max(1, -(-weeks // 6))
    ticks = []
    mondays = 0
    while (moment := datetime.combine(day, time(), tzinfo=tz)) < end:
        week = day.weekday() == 0
        label = week and mondays % every == 0
        mondays += int(week)
        ticks.append(
            {"left": _percent(moment, start, end), "at": moment, "week": week, "label": label}
        )
        day += timedelta(days=1)
    return ticks


def _urls(obj: Any) -> dict[str, str] | None:
    token = feeds.ensure_token(obj)
    return feeds.feed_urls(token) if token else None


def _page(request: WebRequest, rotation: Rotation, form: OverrideForm, status: int) -> HttpResponse:
    now = timezone.now()
    try:
        weeks = min(max(int(request.GET.get("weeks") or WEEKS), 1), MAX_WEEKS)
    except ValueError:
        weeks = WEEKS
    tz = timezone.get_current_timezone()
    start = datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)
    end = start + timedelta(weeks=weeks)
    loaded = selectors.load_one(rotation, (start, end))
    shifts = loaded.shifts(start, end)
    version = schedule.version_at(loaded.versions, now)
    overrides = Override.objects.filter(
        rotation=rotation, deleted_at__isnull=True, end__gt=now
    ).select_related("person", "backup")
    context = {
        "rotation": rotation,
        "weeks": weeks,
        "start": start,
        "end": end,
        "now_left": _percent(now, start, end),
        "oncall": loaded.oncall(now),
        "active_now": bool(loaded.active(now, now + schedule.EPSILON)),
        "windows": windows.describe(version.windows) if version else "",
        "windows_zone": str(version.tz) if version else "",
        "next_shift": next((s for s in shifts if s.start > now and s.person), None),
        "lanes": lanes(shifts, start, end),
        "ticks": day_ticks(start, end, weeks),
        "shifts": shifts,
        "gaps": [s for s in shifts if s.person is None],
        "overrides": overrides,
        "form": _choices(request, form, rotation),
        "rotation_feed": _urls(rotation),
        "person_feed": _urls(request.person) if request.person else None,
        "timezone_name": str(tz),
        "may_assign": may_assign(request, rotation),
        **web_swaps.context(request, rotation, shifts),
    }
    # The feed links are secrets and ?weeks= is reflected: no gzip (BREACH).
    response = render(request, "rotations/web/rotation.html", context, status=status)
    return uncompressed(response)


def may_assign(request: WebRequest, rotation: Rotation) -> bool:
    """Whether the login may put anyone on call in the rotation: staff and team leads;
    everyone else covers only themselves (nobody is put on call without their own
    action or a lead's)."""
    return bool(request.user.is_staff) or swap_services.is_lead(request.person, rotation)


def _choices(request: WebRequest, form: OverrideForm, rotation: Rotation) -> OverrideForm:
    """Offer a login the people it may act as: anyone for staff and leads, else itself."""
    if not may_assign(request, rotation) and request.person is not None:
        field = form.fields["person"]
        field.queryset = field.queryset.filter(pk=request.person.pk)  # type: ignore[attr-defined]
    return form


def _initial(request: WebRequest) -> dict[str, Any]:
    tz = timezone.get_current_timezone()
    today = timezone.now().astimezone(tz).date()
    start = datetime.combine(today + timedelta(days=1), time(9), tzinfo=tz)
    initial: dict[str, Any] = {"start": start, "end": start + timedelta(days=1)}
    if request.person is not None:
        initial["person"] = request.person.handle
    return initial


@page
def rotation(request: WebRequest, slug: str) -> HttpResponse:
    """``/rotations/<slug>/``: the coming weeks (``?weeks=``, 1–26), overrides, feeds."""
    found = get_object_or_404(Rotation.objects.select_related("team"), slug=slug)
    return _page(request, found, OverrideForm(initial=_initial(request)), 200)


@action
def create_override(request: WebRequest, slug: str) -> HttpResponse:
    """``POST /rotations/<slug>/overrides/``: through ``services.create_override``; a bad
    form shows the page again with its errors (400), and so does naming someone else
    without being staff or a lead of the rotation's team (403: a login acts only as its
    own person, rotations.acting)."""
    found = get_object_or_404(Rotation.objects.select_related("team"), slug=slug)
    form = OverrideForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if not may_assign(request, found):
                acting.act_as(acting.actor(request), data["person"])
        except acting.ActingDenied as error:
            form.add_error("person", f"{error} Team leads may put others on call too.")
            return _page(request, found, form, 403)
        try:
            services.create_override(
                rotation=found,
                person=data["person"],
                start=data["start"],
                end=data["end"],
                reason=data["reason"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            local = timezone.localtime(data["start"])
            messages.success(
                request,
                f"{data['person']} covers {found.name} from {local:%a %-d %b %H:%M}.",
            )
            return redirect("web-rotation", slug=slug)
    return _page(request, found, form, 400)


@action
def delete_override(request: WebRequest, slug: str, pk: int) -> HttpResponse:
    """``POST /rotations/<slug>/overrides/<id>/delete/``: the covering person's own, or
    anyone's for staff."""
    override = (
        Override.objects.select_related("rotation__team", "person")
        .filter(pk=pk, rotation__slug=slug, deleted_at__isnull=True)
        .first()
    )
    if override is None:
        raise Http404("No such override.")
    try:
        if not may_assign(request, override.rotation):
            acting.act_as(acting.actor(request), override.person)
    except acting.ActingDenied:
        messages.error(
            request, f"Only {override.person}, a team lead or staff can delete this override."
        )
        return back(request, reverse("web-rotation", args=[slug]))
    swap = services.live_swap_of(override)
    if swap is not None:
        messages.error(request, f"This override is swap #{swap.pk}: undo the swap instead.")
        return back(request, reverse("web-rotation", args=[slug]) + "#swaps")
    services.delete_override(override)
    messages.success(request, f"Deleted the override of {override.person}.")
    return back(request, reverse("web-rotation", args=[slug]))


@action
def reset_rotation_feed(request: WebRequest, slug: str) -> HttpResponse:
    """``POST /rotations/<slug>/feed/reset/``: staff only, since everyone subscribed to
    the rotation's feed loses it."""
    found = get_object_or_404(Rotation, slug=slug)
    if not request.user.is_staff:
        messages.error(request, "Only staff can reset a rotation's feed: its subscribers lose it.")
    else:
        feeds.issue_token(found)
        messages.success(request, "New feed link issued; the old one no longer works.")
    return redirect("web-rotation", slug=slug)


@action
def reset_my_feed(request: WebRequest) -> HttpResponse:
    """``POST /me/feed/reset/``: a new link for my own feed; the old one stops working."""
    if request.person is not None:
        feeds.issue_token(request.person)
        messages.success(request, "New feed link issued; the old one no longer works.")
    return back(request, reverse("web-me"))
