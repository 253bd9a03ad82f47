"""A seeded incident history for the report tests (API, web page, Chromium): two ISO weeks
around the end of daylight saving time (Berlin 2026-10-25, New York 2026-11-01), pages to
people in Berlin, New York and UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

from escalation.models import Incident, Notification, Repo
from rotations.models import Person, Team

_keys = count()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def incident(repo: Repo, seen: str, job: str = "scs-check", **times: str | None) -> Incident:
    """``claimed``/``resolved`` as UTC times "2026-10-20 06:40"; ``by`` the resolver."""
    return Incident.objects.create(
        dedup_key=f"k{next(_keys)}",
        source="zuul",
        repo=repo.name,
        repo_ref=repo,
        job=job,
        first_seen=at(seen),
        last_seen=at(seen),
        state="resolved"
        if times.get("resolved")
        else "claimed"
        if times.get("claimed")
        else "open",
        claimed_at=at(times["claimed"]) if times.get("claimed") else None,
        resolved_at=at(times["resolved"]) if times.get("resolved") else None,
    )


def _state(times: dict[str, str | None]) -> str:
    if times.get("resolved"):
        return "resolved"
    return "claimed" if times.get("claimed") else "open"


def page(incident: Incident, person: Person, sent: str, kind: str = "page", status: str = "sent"):
    return Notification.objects.create(
        incident=incident,
        key=f"n{next(_keys)}",
        kind=kind,
        channel="email",
        address=person.email,
        person=person,
        status=status,
        created_at=at(sent),
        sent_at=at(sent) if status == "sent" else None,
    )


def seed(team: Team, repo: Repo) -> dict[str, Person]:
    """W43: A (in hours, claimed in 10 min), B (out of hours in Berlin, claimed in 30 min),
    C (Saturday, recovered by itself); W44: D (07:30 Berlin now that CET applies, 02:30
    New York: two out-of-hours pages, claimed in 5 min), E (recovered by itself).
    Plus noise that must not count: a failed page, another team's incident."""
    alice = Person.objects.create(handle="ra", email="ra@example.org", timezone="Europe/Berlin")
    bob = Person.objects.create(handle="rb", email="rb@example.org", timezone="America/New_York")
    carol = Person.objects.create(handle="rc", email="rc@example.org", timezone="UTC")
    a = incident(repo, "2026-10-20 06:25", claimed="2026-10-20 06:40", resolved="2026-10-20 08:25")
    page(a, alice, "2026-10-20 06:30")  # 08:30 CEST: in hours
    b = incident(repo, "2026-10-23 16:20", claimed="2026-10-23 17:00", resolved="2026-10-23 20:20")
    page(b, alice, "2026-10-23 16:30")  # 18:30 CEST: out of hours
    page(b, bob, "2026-10-23 16:40", kind="repage")  # 12:40 EDT: in hours
    c = incident(repo, "2026-10-24 12:00", job="flaky-job", resolved="2026-10-24 12:30")
    page(c, carol, "2026-10-24 12:00")  # Saturday
    d = incident(repo, "2026-10-27 06:25", claimed="2026-10-27 06:35")
    page(d, alice, "2026-10-27 06:30")  # 07:30 CET: out of hours
    page(d, bob, "2026-10-27 06:30")  # 02:30 EDT: out of hours
    page(d, carol, "2026-10-27 06:31", status="failed")  # never reached anyone
    incident(repo, "2026-10-28 10:00", job="flaky-job", resolved="2026-10-28 10:05")
    other_team = Team.objects.create(slug="elsewhere", name="Elsewhere")
    other = Repo.objects.create(name="Other/repo", team=other_team)
    x = incident(other, "2026-10-21 03:00")
    page(x, carol, "2026-10-21 03:05")
    return {"alice": alice, "bob": bob, "carol": carol}
