"""The Matrix channel and chat-ops: on when ``MATRIX_HOMESERVER`` and
``MATRIX_ACCESS_TOKEN`` are set (see docs/matrix.md).

``escalation.plugins`` plugs it in: the channel itself, people reached by a mention
(``mention``) in the incident's room, edits when an incident changes, handoffs in the
team room, the room topic when a team or repo is saved with a room.
"""

from __future__ import annotations

from django.conf import settings

from escalation import targets
from escalation.models import Incident, Notification
from rotations.models import Person


def configured() -> bool:
    return bool(settings.MATRIX_HOMESERVER and settings.MATRIX_ACCESS_TOKEN)


def mention(person: Person, incident: Incident) -> targets.Recipient | None:
    """A person with a Matrix ID is reached by a mention in the incident's room."""
    from escalation.channels.matrix.channel import room_of

    room = room_of(incident) if person.matrix_id else ""
    return targets.Recipient(Notification.Channel.MATRIX, room, person) if room else None
