"""A team, a rotation, a repo and a room on the real Synapse, with the bot plugged in.

The engine, the delivery and the edits run synchronously (Celery eager, commit hooks
executed), as a worker runs them; the listener runs one ``/sync`` round at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from escalation import delivery, engine
from escalation.chatops.listener import Listener
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, MatrixMessage, Notification, Repo
from escalation.services import ingestion
from rotations import services
from rotations.models import Person, Rotation, Team
from tests.matrix.synapse import Event, MatrixUser

REPO = "SovereignCloudStack/standards"


def report(n: int = 1, job: str = "scs-check-gx-scs-main") -> Report:
    return Report(
        source="zuul",
        status="failure",
        repo=REPO,
        job=job,
        pipeline="periodic-hourly",
        branch="main",
        result="FAILURE",
        summary="Build failed.",
        url="https://zuul.example.org/t/scs/build/1",
        log_url="https://logs.example.org/1/",
        delivery_key=f"{job}-{n}",
    )


@dataclass
class Team_:
    room: str
    alice: Person
    bob: Person
    repo: Repo
    rotation: Rotation


def build_team(room: str, alice: MatrixUser, bob: MatrixUser) -> Team_:
    people = [
        Person.objects.create(
            handle=user.user_id[1:].split(":")[0],
            name=user.user_id[1:].split(":")[0].title(),
            email=f"{user.user_id[1:].split(':')[0]}@example.org",
            matrix_id=user.user_id,
        )
        for user in (alice, bob)
    ]
    team = Team.objects.create(slug="infra", name="Infra", matrix_room=room)
    rotation = services.create_rotation(
        slug="infra",
        name="Infra",
        team=team,
        start=date(2025, 12, 22),
        spec=services.ScheduleSpec(people, 14, time(9), "UTC"),
    )
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        steps=[
            {
                "wait_seconds": 0,
                "notify": [{"type": "repo_oncall", "role": "primary"}],
                "repeat": 2,
                "repeat_every_seconds": 300,
            },
            {"wait_seconds": 1200, "notify": [{"type": "person", "person": people[1].handle}]},
        ],
    )
    repo = Repo.objects.create(
        name=REPO,
        team=team,
        rotation=rotation,
        policy=policy,
        workflow="Check the [flavor runbook](https://docs.example.org/runbooks/flavors).",
    )
    return Team_(room, people[0], people[1], repo, rotation)


def work() -> None:
    """One tick of a worker: the sweep, then every notification due."""
    engine.sweep()
    unsent = Notification.objects.filter(status__in=["pending", "retrying"])
    for pk in unsent.values_list("pk", flat=True):
        delivery.deliver(pk)


def open_incident(n: int = 1, job: str = "scs-check-gx-scs-main") -> Incident:
    incident = ingestion.accept([report(n, job)]).outcomes[0].incident
    work()
    return Incident.objects.get(pk=incident.pk)


def root_of(incident: Incident) -> MatrixMessage:
    return MatrixMessage.objects.get(incident=incident, root=True)


def sync(listener: Listener, user: MatrixUser, room: str, event_id: str) -> None:
    """Run the listener until it has seen ``event_id`` (the homeserver may need a moment)."""
    for _ in range(20):
        listener.run_once()
        if listener_saw(event_id):
            return
    raise AssertionError(f"the listener never saw {event_id}")


def listener_saw(event_id: str) -> bool:
    from escalation.models import MatrixEvent

    return MatrixEvent.objects.filter(event_id=event_id).exists()


def body(event: Event) -> str:
    content = event.get("content", {})
    return content.get("m.new_content", content).get("body", "")
