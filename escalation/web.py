"""Web UI pages of incidents: the list a team keeps open, one incident, and the buttons.

Thin: parse, call a selector or a lifecycle service, render. Actions are POSTs that act
as the logged-in person (channel "web") and redirect back to the page they came from,
filters included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from escalation import engine, markup, selectors
from escalation.models import Incident
from escalation.services import lifecycle
from escalation.web_forms import IncidentFilterForm, MuteForm
from rotations import selectors as rotation_selectors
from rotations.models import Person, Team
from rotations.pages import WebRequest, action, back, page

CHANNEL = "web"
PAGE_SIZE = 100
REFRESH_SECONDS = 30
MUTE_PRESETS = [(60, "1 h"), (60 * 24, "1 day")]


def home(request: WebRequest) -> HttpResponse:
    return redirect("web-incidents")


def decorate(incidents: list[Incident], now: Any) -> list[Incident]:
    """Give each incident what its row shows: ``people`` (responsible, primary first),
    ``escalation`` (policy, step, next page), ``muted`` (now), and ``ref``/``page``, its
    id as text and its page, once (its buttons post to ``page`` + action + ``/``): rows
    render without a URL lookup or number formatting per button."""
    answers = selectors.responsible({i.repo_ref for i in incidents if i.repo_ref}, now)
    for incident in incidents:
        incident.ref = str(incident.pk)  # type: ignore[attr-defined]
        incident.page = reverse("web-incident", args=[incident.pk])  # type: ignore[attr-defined]
        incident.people = answers.get(incident.repo_ref_id or 0, [])  # type: ignore[attr-defined]
        incident.escalation = selectors.escalation_view(incident, now)  # type: ignore[attr-defined]
        incident.muted = incident.is_muted(now)  # type: ignore[attr-defined]
    return incidents


@page
def incidents(request: WebRequest) -> HttpResponse:
    """``/incidents/``: tabs by state, filters, 100 a page; refreshes itself."""
    now = timezone.now()
    form = IncidentFilterForm(request.GET)
    filters = form.filters()
    base = selectors.filtered_incidents(filters)
    paginator = Paginator(selectors.incident_rows(base, filters.tab, now), PAGE_SIZE)
    rows = paginator.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "filters": filters,
        "tabs": list(selectors.tab_counts(base, now).items()),
        "next": request.get_full_path(),
        "rows": rows,
        "incidents": decorate(list(rows.object_list), now),
        "choices": selectors.filter_choices(),
        "presets": MUTE_PRESETS,
        "refresh": REFRESH_SECONDS,
        "filtered": bool(filters.repo or filters.team or filters.category),
    }
    return render(request, "escalation/web/incidents.html", context)


def _detail(request: WebRequest, pk: int, mute_form: MuteForm | None, status: int) -> HttpResponse:
    incident = selectors.incident_detail(pk)
    if incident is None:
        raise Http404("No such incident.")
    now = timezone.now()
    decorate([incident], now)
    context = {
        "incident": incident,
        "events": selectors.timeline(incident),
        "history": list(incident.history.all()),
        "workflow": markup.workflow_html(incident.workflow),
        "mute_form": mute_form or MuteForm(),
        "presets": MUTE_PRESETS,
        "next": reverse("web-incident", args=[pk]),
        "responders": list(incident.responders.all()),
        "next_step": _next_step(incident),
        "people": Person.objects.filter(active=True).order_by("handle"),
        "teams": Team.objects.order_by("slug"),
        "note_max": lifecycle.NOTE_MAX,
    }
    return render(request, "escalation/web/incident.html", context, status=status)


@page
def incident(request: WebRequest, pk: int) -> HttpResponse:
    """``/incidents/<id>/``: everything about one incident, and its buttons."""
    return _detail(request, pk, None, 200)


DONE = {
    "claim": "Claimed",
    "unclaim": "Unclaimed",
    "resolve": "Resolved",
    "mute": "Muted",
    "unmute": "Unmuted",
}


@action
def incident_action(request: WebRequest, pk: int, name: str) -> HttpResponse:
    """``POST /incidents/<id>/<claim|unclaim|resolve|mute|unmute>/`` as the logged-in
    person; back to ``next``. A bad mute duration shows the incident page with the
    form's errors (400); an action that no longer fits the state says so."""
    incident = Incident.objects.filter(pk=pk).first()
    if incident is None or name not in DONE:
        raise Http404("No such incident or action.")
    person = request.person
    if person is None:  # @action lets only linked logins through
        raise Http404("No person.")
    data: dict[str, Any] = {"note": request.POST.get("note", "")[:2000]}
    if name == "mute":
        form = MuteForm(request.POST)
        if not form.is_valid():
            return _detail(request, pk, form, 400)
        data["mute_until"] = form.cleaned_data["mute_until"]
    fallback = reverse("web-incident", args=[pk])
    try:
        lifecycle.perform(
            incident,
            name,
            by=person,
            channel=CHANNEL,
            until=data.get("mute_until"),
            note=data["note"],
        )
    except lifecycle.InvalidState as error:
        messages.error(request, _conflict(error.incident, name))
        return back(request, fallback)
    except lifecycle.InvalidMute as error:  # the form checked it; the clock moved on
        messages.error(request, str(error))
        return back(request, fallback)
    text = f"{DONE[name]} #{pk} {incident.repo} as {person.name or person.handle}"
    if name == "mute":
        until = timezone.localtime(data["mute_until"])
        text += f" until {until:%a %-d %b %H:%M %Z}"
    messages.success(request, text + ".")
    return back(request, fallback)


def _conflict(incident: Incident, name: str) -> str:
    """Why ``name`` did not fit, in words."""
    if incident.state == Incident.State.RESOLVED:
        return f"#{incident.pk} is already resolved."
    if name == "claim" and incident.claimed_by is not None:
        return f"#{incident.pk} is already claimed by {incident.claimed_by}."
    if name == "unmute":
        return f"#{incident.pk} is not muted."
    return f"Cannot {name} #{incident.pk}: it is {incident.state}."


def _next_step(incident: Incident) -> int | None:
    """The step number (from 1) "Escalate now" would page; None when there is none."""
    if incident.state == Incident.State.RESOLVED or not (incident.policy or {}).get("steps"):
        return None
    found = engine.next_step(incident)
    return found[1] + 1 if found else None


#: The actions beyond the buttons (docs/web.md): URL name → (action, what was done).
MORE = {
    "escalate": (lifecycle.Action.ESCALATE, "Escalated"),
    "reassign": (lifecycle.Action.REASSIGN, "Reassigned"),
    "responders": (lifecycle.Action.ADD_RESPONDER, "Added a responder to"),
    "notes": (lifecycle.Action.NOTE, "Added a note to"),
}


@action
def incident_more(request: WebRequest, pk: int, name: str) -> HttpResponse:
    """``POST /incidents/<id>/<escalate|reassign|responders|notes>/`` as the logged-in
    person (fields ``to``, ``add``, ``text``); back to ``next``. A person or team that
    is not one, or an empty or too long note, shows the page again (400)."""
    incident = Incident.objects.filter(pk=pk).first()
    if incident is None or name not in MORE or request.person is None:
        raise Http404("No such incident or action.")
    to: Person | Team | None = None
    if name == "reassign":
        to = rotation_selectors.person_by_reference(request.POST.get("to", ""))
        if to is None:
            return _refused(request, pk, "Pick the person to reassign it to.")
    if name == "responders":
        to = selectors.person_or_team(request.POST.get("add", ""))
        if to is None:
            return _refused(request, pk, "Pick a person or team to add.")
    act, done = MORE[name]
    try:
        lifecycle.perform(
            incident,
            act,
            by=request.person,
            channel=CHANNEL,
            to=to,
            note=request.POST.get("text", "")[: lifecycle.NOTE_MAX + 1],
        )
    except lifecycle.InvalidTarget as error:
        return _refused(request, pk, str(error))
    except lifecycle.InvalidState as error:
        messages.error(request, str(error))
        return back(request, reverse("web-incident", args=[pk]))
    whom = f" to {to}" if name == "reassign" else f": {to}" if to is not None else ""
    messages.success(request, f"{done} #{pk}{whom}.")
    return back(request, reverse("web-incident", args=[pk]))


def _refused(request: WebRequest, pk: int, text: str) -> HttpResponse:
    messages.error(request, text)
    return _detail(request, pk, None, 400)
