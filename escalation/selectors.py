"""Reads for escalation/: who is responsible for repos, incident lists and pages, in
constant queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import (
    Case,
    Count,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from escalation.models import (
    Incident,
    Notification,
    Occurrence,
    Repo,
    Responder,
    TimelineEntry,
)
from rotations import generation, schedule, selectors
from rotations.models import Person, Team

INSTANT = timedelta(microseconds=1)


#: An incident's responders with what they show (``Prefetch("responders", RESPONDERS)``).
RESPONDERS = Responder.objects.select_related("person", "team", "added_by")


def person_or_team(reference: str) -> Person | Team | None:
    """A responder by reference: a person (handle, e-mail, Matrix ID), else a team by
    slug; ``team:SLUG`` means the team even when a person has that handle."""
    reference = reference.strip()
    if reference.startswith("team:"):
        return Team.objects.filter(slug=reference[5:]).first()
    return selectors.person_by_reference(reference) or Team.objects.filter(slug=reference).first()


def oncall_by_rotation(
    rotation_ids: Iterable[int], at: datetime, stamp: int | None | Literal["read"] = "read"
) -> dict[int, schedule.OnCall]:
    """Who is on call at ``at`` in each rotation (``generation.loaded``)."""
    loaded = generation.loaded(list(set(rotation_ids)), at, stamp)
    return {pk: item.oncall(at) for pk, item in loaded.items()}


def responsible(repos: Iterable[Repo], at: datetime) -> dict[int, list[Person]]:
    """Repo id → people responsible at ``at``: the rotation's primary first, then its
    backup, then the backup rotation's primary (each once)."""
    repos = [r for r in repos if r is not None]
    answers = oncall_by_rotation(
        [i for r in repos for i in (r.rotation_id, r.backup_rotation_id) if i], at
    )
    result: dict[int, list[Person]] = {}
    for repo in repos:
        own = answers.get(repo.rotation_id) if repo.rotation_id else None
        other = answers.get(repo.backup_rotation_id) if repo.backup_rotation_id else None
        people: list[Any] = []
        candidates = [own.primary, own.backup] if own else []
        candidates += [other.primary] if other else []
        for person in candidates:
            if person is not None and not any(schedule.same(person, p) for p in people):
                people.append(person)
        result[repo.pk] = people
    return result


# The web UI's incident lists -------------------------------------------------------

TABS = ("active", "open", "claimed", "muted", "resolved")


@dataclass(frozen=True)
class IncidentFilters:
    """What the incident list shows: a tab (``TABS``) and optional repo, team, category."""

    tab: str = "active"
    repo: str = ""
    team: str = ""
    category: str = ""


def filtered_incidents(filters: IncidentFilters) -> QuerySet[Incident]:
    """Incidents matching the repo (substring), team and category filters, any state."""
    query = Incident.objects.all()
    if filters.repo:
        query = query.filter(repo__icontains=filters.repo)
    if filters.team:
        query = query.filter(repo_ref__team__slug=filters.team)
    if filters.category:
        query = query.filter(category=filters.category)
    return query


def _tab_conditions(now: datetime) -> dict[str, Q]:
    muted = Q(muted_until__gt=now)
    unresolved = ~Q(state=Incident.State.RESOLVED)
    return {
        "active": unresolved,
        "open": Q(state=Incident.State.OPEN) & ~muted,
        "claimed": Q(state=Incident.State.CLAIMED) & ~muted,
        "muted": unresolved & muted,
        "resolved": Q(state=Incident.State.RESOLVED),
    }


def tab_counts(query: QuerySet[Incident], now: datetime) -> dict[str, int]:
    """How many incidents each tab holds: one aggregate query."""
    conditions = _tab_conditions(now)
    return query.aggregate(**{tab: Count("pk", filter=conditions[tab]) for tab in TABS})


def incident_rows(query: QuerySet[Incident], tab: str, now: datetime) -> QuerySet[Incident]:
    """The tab's incidents, ready to render in one query: open before claimed before
    muted, newest first (resolved: latest resolution first), with the last paged
    person's name (``last_paged``) and when (``last_paged_at``)."""
    pages = Notification.objects.filter(
        incident=OuterRef("pk"), kind__in=[Notification.Kind.PAGE, Notification.Kind.REPAGE]
    ).order_by("-created_at", "-pk")
    query = (
        query.filter(_tab_conditions(now)[tab])
        .select_related("claimed_by", "resolved_by", "repo_ref")
        .annotate(
            last_paged=Subquery(pages.values("person__name")[:1]),
            # A webhook's URL may carry a secret: the list names it only as a webhook.
            last_paged_address=Subquery(
                pages.annotate(
                    shown=Case(
                        When(channel=Notification.Channel.WEBHOOK, then=Value("a webhook")),
                        default=F("address"),
                    )
                ).values("shown")[:1]
            ),
            last_paged_at=Subquery(pages.values("created_at")[:1]),
        )
    )
    if tab == "resolved":
        return query.order_by("-resolved_at", "-pk")
    rank = Case(
        When(muted_until__gt=now, then=Value(2)),
        When(state=Incident.State.OPEN, then=Value(0)),
        default=Value(1),
    )
    return query.annotate(rank=rank).order_by("rank", "-last_seen", "-pk")


def filter_choices() -> dict[str, list[Any]]:
    """Values the filters offer: repo names, teams, categories in use (three queries)."""
    categories = (
        Incident.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )
    return {
        "repos": list(Repo.objects.order_by("name").values_list("name", flat=True)),
        "teams": list(Team.objects.order_by("name").values_list("slug", "name")),
        "categories": list(categories),
    }


@dataclass(frozen=True)
class Event:
    """One line of an incident's timeline: a ``TimelineEntry`` or a ``Notification``."""

    at: datetime
    kind: str
    actor: Person | None
    channel: str
    detail: str
    status: str = ""

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")


def incident_detail(pk: int) -> Incident | None:
    """An incident with everything its page shows, in a constant number of queries."""
    return (
        Incident.objects.select_related("claimed_by", "resolved_by", "repo_ref__team")
        .prefetch_related(
            "forwarded_to",
            Prefetch("timeline", TimelineEntry.objects.select_related("actor")),
            Prefetch("notifications", Notification.objects.select_related("person")),
            Prefetch("responders", RESPONDERS),
            Prefetch("history", Occurrence.objects.order_by("-received_at", "-pk")),
        )
        .filter(pk=pk)
        .first()
    )


def timeline(incident: Incident) -> list[Event]:
    """Timeline entries and notifications (prefetched) merged in time order."""
    events = [Event(e.at, e.kind, e.actor, e.channel, e.detail) for e in incident.timeline.all()]
    for n in incident.notifications.all():
        target = f"{n.person.name} ({n.address})" if n.person else n.address
        detail = f"{n.get_kind_display()} to {target}"
        if n.error:
            detail += f": {n.error}"
        events.append(
            Event(n.sent_at or n.created_at, "notification", None, n.channel, detail, n.status)
        )
    return sorted(events, key=lambda e: e.at)


def incidents_of_person(person: Person, now: datetime) -> list[Incident]:
    """Unresolved incidents the person claimed or is responsible for now (primary or
    backup), open before claimed, newest first."""
    repos = list(Repo.objects.exclude(rotation=None, backup_rotation=None))
    answers = responsible(repos, now)
    mine = [pk for pk, people in answers.items() if any(p.pk == person.pk for p in people)]
    query = Incident.objects.exclude(state=Incident.State.RESOLVED).filter(
        Q(claimed_by=person) | Q(repo_ref__in=mine)
    )
    return list(incident_rows(query, "active", now)[:100])


def escalation_view(incident: Incident, now: datetime | None = None) -> dict[str, Any] | None:
    """The API's ``escalation`` object: the next page is None while claimed or resolved,
    and not before the mute ends."""
    if not incident.policy:
        return None
    now = now or timezone.now()
    next_at = incident.next_escalation_at
    if incident.state != Incident.State.OPEN:
        next_at = None
    elif next_at is not None and incident.muted_until and incident.muted_until > now:
        next_at = max(next_at, incident.muted_until)
    return {
        "policy": incident.policy.get("name", ""),
        "step": incident.escalation_step,
        "next_at": next_at,
    }
