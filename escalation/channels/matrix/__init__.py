"""The Matrix channel and chat-ops: on when ``MATRIX_HOMESERVER`` and
``MATRIX_ACCESS_TOKEN`` are set (see docs/matrix.md).

``setup()`` plugs it in: the channel itself, people reached by a mention in the
incident's room, edits when an incident changes, handoffs in the team room, the
room topic when a team or repo is saved with a room.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save

from escalation import changes, channels, targets
from escalation.models import Incident, Notification, Repo
from rotations import notices
from rotations.models import Person, Team


def configured() -> bool:
    return bool(settings.MATRIX_HOMESERVER and settings.MATRIX_ACCESS_TOKEN)


def _mention(person: Person, incident: Incident) -> targets.Recipient | None:
    from escalation.channels.matrix.channel import room_of

    room = room_of(incident) if person.matrix_id else ""
    return targets.Recipient(Notification.Channel.MATRIX, room, person) if room else None


def setup() -> None:
    """Plug the channel in (idempotent)."""
    from escalation.channels.matrix import channel, topic

    channels.register(Notification.Channel.MATRIX, channel.MatrixChannel())
    if _mention not in targets.PERSON_CHANNELS:
        targets.PERSON_CHANNELS.append(_mention)
    if channel.changed not in changes.HOOKS:
        changes.HOOKS.append(channel.changed)
    if topic.on_handoff not in notices.HANDOFF_HOOKS:
        notices.HANDOFF_HOOKS.append(topic.on_handoff)
    for model in (Team, Repo):
        uid = f"matrix-topic-{model.__name__}"
        post_save.connect(topic.on_saved, sender=model, dispatch_uid=uid)


def teardown() -> None:
    """Unplug it (tests switch Matrix on and off)."""
    from escalation.channels.matrix import channel, topic

    channels.unregister(Notification.Channel.MATRIX)
    for hooks in (targets.PERSON_CHANNELS, changes.HOOKS, notices.HANDOFF_HOOKS):
        for hook in list(hooks):
            if hook in (_mention, channel.changed, topic.on_handoff):
                hooks.remove(hook)  # type: ignore[arg-type]
    for model in (Team, Repo):
        post_save.disconnect(sender=model, dispatch_uid=f"matrix-topic-{model.__name__}")
    channel.client.cache_clear()
