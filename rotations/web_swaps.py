"""Web UI of swaps, on the rotation page: "Ask for cover" on one's own shifts (or any
range of them), the open and coming swaps with Take, Approve (team leads) and
Cancel / Undo buttons. Every change goes through ``rotations.swap_services``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone

from rotations import schedule, swap_services
from rotations.models import Person, Rotation, Swap
from rotations.pages import WebRequest, action

LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
ACTIONS = {
    "take": (swap_services.take, "You take swap #{pk}."),
    "approve": (swap_services.approve, "Swap #{pk} approved."),
    "cancel": (swap_services.cancel, "Swap #{pk} cancelled."),
}


def _local_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        input_formats=LOCAL_FORMATS,
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMATS[0]),
    )


class SwapForm(forms.Form):
    """Ask for cover from ``start`` to ``end`` (the viewer's local times)."""

    # Not "From"/"Until": those name the override form's fields on the same page.
    start = _local_field("Start")
    end = _local_field("End")
    note = forms.CharField(required=False, max_length=500, label="Note for the others (optional)")


@dataclass
class SwapRow:
    swap: Swap
    take: bool
    approve: bool
    cancel: bool


def rows(request: WebRequest, rotation: Rotation, now: datetime) -> list[SwapRow]:
    """The live swaps still to come or running, with the buttons this viewer gets."""
    swaps = list(
        Swap.objects.filter(
            rotation=rotation, state__in=swap_services.LIVE, end__gt=now
        ).select_related("requester", "taken_by", "offered_to", "approved_by")
    )
    me = request.person
    if me is None or not swaps:
        return [SwapRow(s, False, False, False) for s in swaps]
    lead = swap_services.is_lead(me, rotation)
    member = any(
        m.pk == me.pk
        for m in swap_services.members(
            rotation, min(s.start for s in swaps), max(s.end for s in swaps)
        )
    )
    found = []
    for s in sorted(swaps, key=lambda s: s.start):
        involved = me.pk in {s.requester_id, s.taken_by_id, s.offered_to_id}
        open_ = s.state == Swap.State.OPEN
        found.append(
            SwapRow(
                s,
                take=open_
                and member
                and (s.offered_to_id == me.pk if s.offered_to_id else s.requester_id != me.pk),
                approve=lead and s.state == Swap.State.TAKEN and s.override_id is None,
                cancel=(involved or lead) and (open_ or s.start > now),
            )
        )
    return found


def own_shifts(person: Person | None, shifts: list[schedule.Shift], now: datetime) -> list[Any]:
    """The viewer's coming shifts of the page (each gets an "Ask for cover" button)."""
    if person is None:
        return []
    return [s for s in shifts if schedule.same(s.person, person) and s.end > now]


def context(
    request: WebRequest, rotation: Rotation, shifts: list[schedule.Shift]
) -> dict[str, Any]:
    now = timezone.now()
    tz = timezone.get_current_timezone()
    start = (now + timedelta(days=1)).astimezone(tz).replace(minute=0, second=0, microsecond=0)
    return {
        "swaps": rows(request, rotation, now),
        "my_shifts": own_shifts(request.person, shifts, now),
        "swap_form": SwapForm(
            initial={"start": start, "end": start + timedelta(days=1)}, auto_id="swap_%s"
        ),
        "is_lead": swap_services.is_lead(request.person, rotation),
    }


def _back(slug: str) -> HttpResponse:
    return redirect(reverse("web-rotation", args=[slug]) + "#swaps")


@action
def ask(request: WebRequest, slug: str) -> HttpResponse:
    """``POST /rotations/<slug>/swaps/``: ask the others to cover part of my shifts."""
    found = get_object_or_404(Rotation.objects.select_related("team"), slug=slug)
    form = SwapForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        messages.error(request, f"Could not ask for cover: {problems}")
        return _back(slug)
    data = form.cleaned_data
    assert request.person is not None  # noqa: S101 (``action`` makes sure)
    try:
        swap = swap_services.request(
            rotation=found,
            requester=request.person,
            start=data["start"],
            end=data["end"],
            note=data["note"],
        )
    except swap_services.SwapError as error:
        messages.error(request, f"Could not ask for cover: {error.message}")
        return _back(slug)
    messages.success(request, f"Swap #{swap.pk}: the other members are asked to cover.")
    return _back(slug)


@action
def act(request: WebRequest, slug: str, pk: int, name: str) -> HttpResponse:
    """``POST /rotations/<slug>/swaps/<id>/take|approve|cancel/`` as the login's person."""
    swap = Swap.objects.filter(pk=pk, rotation__slug=slug).first()
    if swap is None or name not in ACTIONS:
        raise Http404("No such swap.")
    call, done = ACTIONS[name]
    assert request.person is not None  # noqa: S101
    try:
        call(swap, by=request.person)
    except swap_services.SwapError as error:
        messages.error(request, f"Swap #{pk}: {error.message}")
    else:
        messages.success(request, done.format(pk=pk))
    return _back(slug)
