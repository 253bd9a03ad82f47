"""A configured world for the configuration-as-code tests: one of each kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine

from escalation.models import Contact, EscalationPolicy, Repo, Route, Silence, Watch
from escalation.services import watches
from rotations import services
from rotations.models import Person, Team

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def configured(db, frozen):
    """One of each kind, with a future rotation version and a current override."""
    people = {
        h: Person.objects.create(handle=h, name=h.title(), email=f"{h}@example.org")
        for h in ("alice", "bob", "carol")
    }
    team = Team.objects.create(slug="ops", name="Ops", email="ops@example.org")
    team.members.set(people.values())
    rotation = services.create_rotation(
        slug="core-ops",
        name="Core ops",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec([people["alice"], people["bob"]], 7, time(9), "Europe/Berlin"),
    )
    services.edit_schedule(
        rotation,
        services.ScheduleSpec(list(people.values()), 7, time(9), "Europe/Berlin"),
        date(2026, 12, 21),
    )
    services.create_override(
        rotation=rotation,
        person=people["carol"],
        start=datetime(2026, 12, 9, 8, tzinfo=UTC),
        end=datetime(2026, 12, 10, 8, tzinfo=UTC),
        reason="swap",
    )
    services.create_override(  # ended: history, not configuration
        rotation=rotation,
        person=people["bob"],
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
    )
    contact = Contact.objects.create(slug="provider", name="Provider", email="noc@example.net")
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        steps=[
            {
                "wait_seconds": 0,
                "notify": [{"type": "oncall", "rotation": "core-ops", "role": "primary"}],
            }
        ],
    )
    repo = Repo.objects.create(name="scs/standards", team=team, rotation=rotation, policy=policy)
    route = Route.objects.create(order=10, match={"job": "*-flavor-*"}, repo=repo, policy=policy)
    route.forward_to.set([contact])
    Silence.objects.create(
        match={"repo": "scs/*"},
        starts=datetime(2026, 12, 8, tzinfo=UTC),
        ends=datetime(2026, 12, 20, tzinfo=UTC),
        comment="maintenance",
        created_by=people["alice"],
    )
    Silence.objects.create(  # ended
        match={"repo": "old"},
        starts=datetime(2026, 10, 1, tzinfo=UTC),
        ends=datetime(2026, 10, 2, tzinfo=UTC),
    )
    watch = Watch.objects.create(
        slug="nightly",
        name="Nightly",
        match={"pipeline": "periodic-daily"},
        every_seconds=86400,
        repo=repo,
        due_at=NOW,
    )
    watches.issue_token(watch)
    return people
