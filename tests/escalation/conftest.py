"""Small builders for escalation tests: a team rotation, a policy, a repo."""

from datetime import date, time

import pytest

from escalation.models import EscalationPolicy, Repo
from rotations import services
from rotations.models import Person, Team


@pytest.fixture
def people(db):
    return {
        h: Person.objects.create(
            handle=h, name=h.title(), email=f"{h}@example.org", matrix_id=f"@{h}:example.org"
        )
        for h in ("alice", "bob", "carol")
    }


@pytest.fixture
def policy(db):
    return EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        claim_timeout_seconds=3600,
        steps=[
            {
                "wait_seconds": 0,
                "notify": [{"type": "repo_oncall", "role": "primary"}],
                "repeat": 2,
                "repeat_every_seconds": 600,
            },
            {"wait_seconds": 1800, "notify": [{"type": "email", "address": "ops@example.org"}]},
        ],
    )


@pytest.fixture
def repo(people, policy):
    team = Team.objects.create(slug="ops", name="Ops")
    rotation = services.create_rotation(
        slug="core-ops",
        name="Core ops",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec(list(people.values()), 14, time(9), "Europe/Berlin"),
    )
    return Repo.objects.create(
        name="SovereignCloudStack/standards",
        team=team,
        rotation=rotation,
        policy=policy,
        workflow="https://docs.example.org/runbooks/standards",
    )


FAILURE = {
    "source": "zuul",
    "status": "failure",
    "repo": "SovereignCloudStack/standards",
    "job": "scs-check-gx-scs-main",
    "pipeline": "periodic-hourly",
    "branch": "main",
    "subject": "gx-scs",
    "result": "FAILURE",
    "summary": "Build failed.",
    "url": "https://zuul.example.org/t/scs/build/1",
    "labels": {"cloud": "gx-scs"},
}
