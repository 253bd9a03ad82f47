"""Web UI pages that join rotations with repos and incidents: on call now, coverage and
my page. (They live in escalation/, not rotations/, because rotations/ knows nothing of
repos and incidents.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from escalation import coverage as coverage_report
from escalation import selectors, web_me
from escalation.models import Repo
from escalation.web import MUTE_PRESETS, REFRESH_SECONDS, decorate
from rotations import feeds
from rotations import selectors as rotation_selectors
from rotations.models import Rotation, Team
from rotations.pages import WebRequest, page

MY_WEEKS = 8
SEARCH_LIMIT = 20


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        number = default
    return min(max(number, low), high)


@page
def oncall_now(request: WebRequest) -> HttpResponse:
    """``/oncall/``: per team its rotations (who now, backup, next handoffs) and repos;
    ``?repo=`` answers "who is responsible for <repo>?"."""
    now = timezone.now()
    rotations = Rotation.objects.select_related("team").order_by("name")
    answers = {r.rotation.pk: r for r in rotation_selectors.rotations_now(rotations, now)}
    repos = list(Repo.objects.select_related("team", "rotation", "backup_rotation"))
    people = selectors.responsible(repos, now)
    by_team: dict[int | None, dict[str, list[Any]]] = defaultdict(
        lambda: {"rotations": [], "repos": []}
    )
    for answer in answers.values():
        by_team[answer.rotation.team_id]["rotations"].append(answer)
    for repo in repos:
        repo.people = people.get(repo.pk, [])  # type: ignore[attr-defined]
        by_team[repo.team_id]["repos"].append(repo)
    teams: list[tuple[Team | None, dict[str, list[Any]] | None]] = [
        (team, by_team.get(team.pk)) for team in Team.objects.order_by("name")
    ]
    if None in by_team:
        teams.append((None, by_team[None]))
    search = request.GET.get("repo", "").strip()[:255]
    found: list[Repo] = []
    if search:
        matching = [r for r in repos if search.lower() in r.name.lower()]
        found = sorted(matching, key=lambda r: (r.name.lower() != search.lower(), r.name))
    context = {
        "teams": [(team, group) for team, group in teams if group],
        "answers": answers,
        "search": search,
        "found": found[:SEARCH_LIMIT],
        "more": max(0, len(found) - SEARCH_LIMIT),
        "refresh": REFRESH_SECONDS * 2,
    }
    return render(request, "escalation/web/oncall.html", context)


@page
def coverage(request: WebRequest) -> HttpResponse:
    """``/coverage/?days=28``: repos without owners, gaps, unowned failures, shifts per
    person over the coming days."""
    now = timezone.now()
    days = _int(request.GET.get("days"), 28, 1, 366)
    report = coverage_report.report(now, days)
    context = {
        "days": days,
        "report": report,
        "workload": coverage_report.shifts_per_person(now, now + timedelta(days=days)),
    }
    return render(request, "escalation/web/coverage.html", context)


@page
def me(request: WebRequest) -> HttpResponse:
    """``/me/``: my shifts in the coming weeks, my feed link, my open incidents, and my
    settings: time zone, addresses (confirmed before use), notification rules."""
    person = request.person
    context: dict[str, Any] = {"person": person, "weeks": MY_WEEKS, "presets": MUTE_PRESETS}
    if person is not None:
        now = timezone.now()
        shifts = rotation_selectors.shifts_of_person(person, now, now + timedelta(weeks=MY_WEEKS))
        token = feeds.ensure_token(person)
        context.update(
            now=now,
            shifts=shifts,
            feed=feeds.feed_urls(token) if token else None,
            incidents=decorate(selectors.incidents_of_person(person, now), now),
            **web_me.context(person),
        )
    return render(request, "escalation/web/me.html", context)
