"""Every page costs the same number of queries with 5 or 500 open incidents."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from escalation.models import Incident, Notification, Occurrence, Repo, TimelineEntry
from rotations import services

pytestmark = pytest.mark.django_db

CEILING = 20
PAGES = [
    "/incidents/",
    "/incidents/?state=open&team=ops",
    "/incidents/?state=muted",
    "/incidents/?page=2",
    "/incidents/{pk}/",
    "/oncall/",
    "/oncall/?repo=repo",
    "/rotations/core-ops/",
    "/coverage/",
    "/me/",
    "/reports/",
    "/reports/?team=ops",
]


def add_incidents(world, count: int) -> Incident:
    """``count`` unresolved incidents over 5 repos with two rotations each, a third
    claimed by Alice and some muted, each with a page, a timeline entry and an
    occurrence; returns one of them."""
    now = timezone.now()
    rotations = [
        services.create_rotation(
            slug=f"r{i}-{count}",
            name=f"R{i}",
            team=world.team,
            start=now.date() - timedelta(days=30),
            spec=services.ScheduleSpec([world.alice, world.bob], 7, time(9), "UTC"),
        )
        for i in range(5)
    ]
    repos = [
        Repo.objects.create(
            name=f"org/repo-{count}-{i}",
            team=world.team,
            rotation=rotations[i],
            backup_rotation=world.rotation,
            policy=world.policy,
        )
        for i in range(5)
    ]
    incidents = Incident.objects.bulk_create(
        Incident(
            dedup_key=f"{count}-{n}",
            source="zuul",
            repo=repos[n % 5].name,
            repo_ref=repos[n % 5],
            job=f"job-{n}",
            result="FAILURE",
            category="job",
            occurrences=n + 1,
            state="claimed" if n % 3 == 0 else "open",
            claimed_by=world.alice if n % 3 == 0 else None,
            claimed_at=now if n % 3 == 0 else None,
            muted_until=now + timedelta(hours=1) if n % 7 == 0 else None,
            policy=world.policy.snapshot(),
            next_escalation_at=now + timedelta(minutes=n),
        )
        for n in range(count)
    )
    Notification.objects.bulk_create(
        Notification(
            incident=i,
            key=f"k{i.pk}",
            kind="page",
            channel="email",
            address="alice@example.org",
            person=world.alice,
        )
        for i in incidents
    )
    TimelineEntry.objects.bulk_create(TimelineEntry(incident=i, kind="created") for i in incidents)
    Occurrence.objects.bulk_create(
        Occurrence(incident=i, delivery_key=f"d{i.pk}") for i in incidents
    )
    return incidents[0]


def count_queries(client, url: str, assert_at_most) -> int:
    client.get(url)  # the first visit of a rotation or my page issues the feed tokens
    with assert_at_most(CEILING) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_pages_cost_the_same_queries_with_5_or_500_incidents(
    alice_client, world, django_assert_max_num_queries
):
    few = add_incidents(world, 5)
    small = {
        url: count_queries(alice_client, url.format(pk=few.pk), django_assert_max_num_queries)
        for url in PAGES
    }
    many = add_incidents(world, 500)
    for url in PAGES:
        large = count_queries(alice_client, url.format(pk=many.pk), django_assert_max_num_queries)
        assert large == small[url], url


def test_incident_list_pages_by_100(alice_client, world):
    add_incidents(world, 500)
    response = alice_client.get("/incidents/")
    assert len(response.context["incidents"]) == 100
    assert "Page 1 of 5" in response.content.decode()
    last = alice_client.get("/incidents/?page=5")
    assert len(last.context["incidents"]) == 100
    assert alice_client.get("/incidents/?page=99").status_code == 200
