"""Demo data for ``make run`` on an empty database (skipped with ONCALL_DEMO=0).

Each app adds its part in ``load``; the whole demo is one transaction.
"""

from __future__ import annotations

import secrets
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from escalation.ingest import INFRASTRUCTURE, Report
from escalation.models import Contact, EscalationPolicy, Repo, Route
from escalation.services import ingestion
from oncall.env import write_private
from rotations import services
from rotations.models import Person, Rotation, Team

LOGIN_FILE = "demo-login"


def _login_path() -> Path:
    return settings.DATA_DIR / LOGIN_FILE


def load_if_empty() -> tuple[str, str] | None:
    """Load the demo when no user exists; return the demo login (user, password) if any."""
    User = get_user_model()  # noqa: N806
    if not User.objects.exists():
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            load(password)
        write_private(_login_path(), f"admin\n{password}\n")
    path = _login_path()
    if path.exists() and User.objects.filter(username="admin").exists():
        username, password = path.read_text().split()[:2]
        return username, password
    return None


def load(password: str) -> None:
    User = get_user_model()  # noqa: N806
    admin = User.objects.create_superuser("admin", "admin@example.org", password)
    people = [
        ("alice", "Alice Adams", "@alice:example.org", "Europe/Berlin"),
        ("bob", "Bob Brown", "@bob:example.org", "Europe/Berlin"),
        ("carol", "Carol Chen", "@carol:example.org", "America/New_York"),
    ]
    for handle, name, matrix_id, tz in people:
        Person.objects.create(
            handle=handle,
            name=name,
            email=f"{handle}@example.org",
            matrix_id=matrix_id,
            timezone=tz,
        )
    Person.objects.filter(handle="alice").update(user=admin)
    rotation = _rotations()
    _escalation(rotation)


def _rotations() -> Rotation:
    """A team with a two-week rotation that started last Monday, and an override."""
    people = list(Person.objects.order_by("handle"))
    team = Team.objects.create(
        slug="ops", name="Ops", matrix_room="#ops:example.org", email="ops@example.org"
    )
    team.members.set(people)
    today = timezone.localdate(timezone=ZoneInfo("Europe/Berlin"))
    monday = today - timedelta(days=today.weekday() + 7)
    spec = services.ScheduleSpec(people, 14, time(9), "Europe/Berlin")
    rotation = services.create_rotation(
        slug="core-ops", name="Core ops", team=team, spec=spec, start=monday
    )
    override_start = timezone.now() + timedelta(days=20)
    services.create_override(
        rotation=rotation,
        person=people[-1],
        start=override_start,
        end=override_start + timedelta(days=2),
        reason="covers a conference week-end",
    )
    return rotation


def _escalation(rotation: Rotation) -> None:
    """A repo owned by the rotation, a policy, a provider contact with a compliance route,
    a failure reported twice, so the incident list is not empty, and a Zuul node failure
    of a compliance job: infrastructure, paged to the repo's on-call person and not
    forwarded to the provider."""
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        claim_timeout_seconds=4 * 3600,
        steps=[
            {
                "wait_seconds": 0,
                "notify": [{"type": "repo_oncall", "role": "primary"}],
                "repeat": 2,
                "repeat_every_seconds": 600,
            },
            {
                "wait_seconds": 1800,
                "notify": [
                    {"type": "repo_oncall", "role": "backup"},
                    {"type": "email", "address": "ops@example.org"},
                ],
            },
        ],
    )
    Repo.objects.create(
        name="SovereignCloudStack/standards",
        team=rotation.team,
        rotation=rotation,
        policy=policy,
        workflow="https://docs.scs.community/standards/certification/overview",
    )
    provider = Contact.objects.create(
        slug="csp-gx", name="gx-scs operations", email="ops@gx-scs.example.org"
    )
    route = Route.objects.create(order=10, match={"job": "*-gx-scs-*"}, category="compliance")
    route.forward_to.add(provider)
    failure = Report(
        source="zuul",
        status="failure",
        repo="SovereignCloudStack/standards",
        job="scs-check-gx-scs-main",
        pipeline="periodic-hourly",
        branch="main",
        result="FAILURE",
        summary="scs-check-gx-scs-main: FAILURE — Build failed.",
        url="https://zuul.scs.community/t/scs/buildset/demo",
    )
    ingestion.accept([failure])
    ingestion.accept([failure])
    node_failure = Report(
        source="zuul",
        status="failure",
        repo="SovereignCloudStack/standards",
        job="scs-check-gx-scs-next",
        pipeline="periodic-hourly",
        branch="main",
        result="NODE_FAILURE",
        summary="scs-check-gx-scs-next: NODE_FAILURE — Build failed.",
        url="https://zuul.scs.community/t/scs/buildset/demo-node",
        category=INFRASTRUCTURE,
    )
    ingestion.accept([node_failure])
