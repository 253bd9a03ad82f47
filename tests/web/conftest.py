"""Builders for the web UI tests: a team with a rotation and a repo, logins, incidents."""

from __future__ import annotations

from datetime import date, time
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from escalation.models import EscalationPolicy, Repo
from escalation.services import ingestion
from rotations import services
from rotations.models import Person, Team
from tests.escalation.conftest import FAILURE

PASSWORD = "correct horse battery staple"


@pytest.fixture
def world(db):
    """Team ops, rotation core-ops (alice, bob, carol; 14 days from 2026-01-05 09:00
    Berlin), policy standard, repo SovereignCloudStack/standards; alice's login "alice"
    is linked to her by handle, "viewer" to nobody."""
    people = {
        handle: Person.objects.create(
            handle=handle, name=handle.title(), email=f"{handle}@example.org", timezone=tz
        )
        for handle, tz in (
            ("alice", "Europe/Berlin"),
            ("bob", "America/New_York"),
            ("carol", "UTC"),
        )
    }
    team = Team.objects.create(slug="ops", name="Ops")
    team.members.set(people.values())
    rotation = services.create_rotation(
        slug="core-ops",
        name="Core ops",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec(list(people.values()), 14, time(9), "Europe/Berlin"),
    )
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        steps=[
            {"wait_seconds": 0, "notify": [{"type": "repo_oncall", "role": "primary"}]},
            {"wait_seconds": 1800, "notify": [{"type": "repo_oncall", "role": "backup"}]},
        ],
    )
    repo = Repo.objects.create(
        name=FAILURE["repo"],
        team=team,
        rotation=rotation,
        policy=policy,
        workflow="# Runbook\n\n1. Read the logs.\n2. See https://docs.example.org/runbook",
    )
    users = get_user_model()
    alice = users.objects.create_user("alice", "alice@example.org", PASSWORD)
    viewer = users.objects.create_user("viewer", "viewer@example.org", PASSWORD)
    return SimpleNamespace(
        **people,
        people=people,
        team=team,
        rotation=rotation,
        repo=repo,
        policy=policy,
        user=alice,
        viewer=viewer,
    )


@pytest.fixture
def alice_client(client, world):
    client.force_login(world.user)
    return client


def report(**changes):
    """A failure as ingestion accepts it (the generic event's fields)."""
    from escalation.ingest import generic

    return generic.parse({**FAILURE, **changes}, "")


def failure(**changes):
    """Store one failure; returns the incident."""
    from escalation.models import Incident

    accepted = ingestion.accept(report(**changes))
    return Incident.objects.get(pk=accepted.body()["incidents"][0]["id"])


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """One real OpenID Connect provider per session (tests/oidc.py) whose client comes back
    to Django's test client; the Chromium test starts its own for the live server."""
    from tests.oidc import CALLBACK, TEST_SITE, running_provider

    with running_provider(tmp_path_factory.mktemp("oidc"), [TEST_SITE + CALLBACK]) as provider:
        yield provider
