"""The Matrix channel and chat-ops: on when ``MATRIX_HOMESERVER`` and
``MATRIX_ACCESS_TOKEN`` are set (see docs/matrix.md).

``escalation.plugins`` plugs it in: the channel itself, people reached by a mention in
the incident's room (``targets.by_matrix_mention``), edits when an incident changes,
handoffs in the team room, the room topic when a team or repo is saved with a room
(``tasks``).
"""

from __future__ import annotations

from django.conf import settings


def configured() -> bool:
    return bool(settings.MATRIX_HOMESERVER and settings.MATRIX_ACCESS_TOKEN)
