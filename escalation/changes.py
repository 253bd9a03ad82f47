"""Who hears that an incident changed: a repeat, a claim, a mute, resolution.

``escalation.plugins`` plugs the Matrix channel in here to edit the incident's
message. Hooks run after
the change commits and take the incident id and ``soon``: a person acted (claim,
mute, resolve) and wants to see it, rather than one more repeat of a failure.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

HOOKS: list[Callable[[int, bool], None]] = []


def incident_changed(incident_id: int, *, soon: bool = False) -> None:
    for hook in HOOKS:
        transaction.on_commit(lambda hook=hook: hook(incident_id, soon))  # type: ignore[misc]
