"""Who a policy target reaches: recipients with channel and address.

A recipient list may be empty (a rotation with a gap): the engine then says so in
the timeline and moves on to the next step at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalation import channels
from escalation.channels.matrix.channel import room_of
from escalation.models import Contact, Incident, Notification
from escalation.selectors import oncall_by_rotation
from rotations.models import Person, Rotation, Team

Channel = Notification.Channel


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    person: Person | None = None
    #: Seconds after the page that this one is due (a person's rule, e.g. e-mail at 120 s).
    delay: int = 0

    def label(self) -> str:
        who = self.person.handle if self.person else self.address
        if self.channel == Channel.WEBHOOK and self.person is not None:
            how = "webhook"  # the URL is the person's secret
        else:
            how = self.channel
        return f"{who} ({how} in {self.delay} s)" if self.delay else f"{who} ({how})"


def by_email(person: Person, incident: Incident) -> Recipient | None:
    return Recipient(Channel.EMAIL, person.email, person) if person.email else None


def by_matrix_mention(person: Person, incident: Incident) -> Recipient | None:
    """A person with a Matrix ID is reached by a mention in the incident's room."""
    room = room_of(incident) if person.matrix_id else ""
    return Recipient(Channel.MATRIX, room, person) if room else None


# Channels that reach a person about an incident, in order; filled by
# ``escalation.plugins``: e-mail, then a mention in the incident's Matrix room.
PERSON_CHANNELS: list[Callable[[Person, Incident], Recipient | None]] = []


def for_person(person: Person | None, incident: Incident) -> list[Recipient]:
    if person is None or not person.active:
        return []
    return [r for make in PERSON_CHANNELS if (r := make(person, incident)) is not None]


def _oncall(rotation_id: int | None, role: str, at: datetime) -> Person | None:
    if rotation_id is None:
        return None
    answer = oncall_by_rotation([rotation_id], at).get(rotation_id)
    if answer is None:
        return None
    return answer.backup if role == "backup" else answer.primary  # type: ignore[return-value]


def resolve(target: dict[str, Any], incident: Incident, at: datetime) -> list[Recipient]:
    """The recipients of one target for ``incident`` at ``at`` (empty: nobody)."""
    kind = target.get("type")
    if kind == "oncall":
        rotation = (
            Rotation.objects.filter(slug=target.get("rotation"))
            .values_list("pk", flat=True)
            .first()
        )
        return for_person(_oncall(rotation, target.get("role", "primary"), at), incident)
    if kind == "repo_oncall":
        repo = incident.repo_ref
        return for_person(
            _oncall(repo.rotation_id if repo else None, target.get("role", "primary"), at),
            incident,
        )
    if kind == "person":
        return for_person(Person.objects.filter(handle=target.get("person")).first(), incident)
    if kind == "team":
        team = Team.objects.filter(slug=target.get("team")).first()
        return team_recipients(team, incident)
    if kind == "contact":
        contact = Contact.objects.filter(slug=target.get("contact")).first()
        return [Recipient(Channel.EMAIL, contact.email)] if contact and contact.email else []
    if kind == "email":
        return [Recipient(Channel.EMAIL, target["address"])] if target.get("address") else []
    if kind == "matrix_room":
        return [Recipient(Channel.MATRIX, target["room"])] if target.get("room") else []
    if kind == "webhook":
        return [Recipient(Channel.WEBHOOK, target["url"])] if target.get("url") else []
    return []


def team_recipients(team: Team | None, incident: Incident) -> list[Recipient]:
    """A team's mailing list and room; without a list, its active members."""
    if team is None:
        return []
    found = [Recipient(Channel.EMAIL, team.email)] if team.email else []
    if team.matrix_room and channels.get(Channel.MATRIX) is not None:
        found.append(Recipient(Channel.MATRIX, team.matrix_room))
    if not team.email:
        for member in team.members.filter(active=True):
            found.extend(r for r in for_person(member, incident) if r.channel == Channel.EMAIL)
    return found
