"""Every plug-in point of the project and what fills it, in one place.

Lower modules offer a registry and never fill it themselves; ``register()``, called
once from ``EscalationConfig.ready()``, fills them all:

==============================================  =========================================
registry                                        filled with
==============================================  =========================================
``escalation.channels`` (name → ``Channel``)    e-mail, webhook; Matrix (room and DM)
                                                when configured
``escalation.targets.PERSON_CHANNELS``          e-mail; a mention in the incident's Matrix
                                                room when configured
``escalation.changes.HOOKS``                    Matrix edits the incident's message
``post_save`` of ``Team`` and ``Repo``          Matrix sets the room topic
``rotations.notices.HANDOFF_HOOKS``             Matrix posts the handoff, sets the topic
``rotations.swap_notices.SWAP_HOOKS``           Matrix posts each swap change in the room
``rotations.selectors.ONCALL_RESOLVERS``        ``?rotation=`` and ``?repo=`` of
                                                ``/api/v1/oncall/``
model signals of the routing configuration      drop every process's cached copy
==============================================  =========================================
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from escalation import changes, channels, routing_cache, targets
from escalation.channels import email, webhook
from escalation.channels import matrix as matrix_channel
from escalation.channels.matrix import channel, direct, topic
from escalation.channels.matrix import swaps as matrix_swaps
from escalation.channels.matrix import tasks as matrix_tasks
from escalation.models import Notification, Repo
from escalation.services import watches  # noqa: F401  (registers its beat task)
from escalation.views import repo_oncall
from rotations import notices, swap_notices
from rotations import selectors as rotation_selectors
from rotations.models import Team
from rotations.views import rotation_oncall


def register() -> None:
    """Fill every registry (idempotent)."""
    channels.register(Notification.Channel.EMAIL, email.EmailChannel())
    channels.register(Notification.Channel.WEBHOOK, webhook.WebhookChannel())
    _add(targets.PERSON_CHANNELS, targets.by_email)
    rotation_selectors.ONCALL_RESOLVERS["rotation"] = rotation_oncall
    rotation_selectors.ONCALL_RESOLVERS["repo"] = repo_oncall
    routing_cache.connect()
    if matrix_channel.configured():
        register_matrix()


def register_matrix() -> None:
    """Plug the Matrix channel in (idempotent; tests switch it on and off)."""
    channels.register(Notification.Channel.MATRIX, channel.MatrixChannel())
    channels.register(Notification.Channel.MATRIX_DM, direct.DirectChannel())
    _add(targets.PERSON_CHANNELS, targets.by_matrix_mention)
    _add(changes.HOOKS, matrix_tasks.on_incident_changed)
    _add(notices.HANDOFF_HOOKS, topic.on_handoff)
    _add(swap_notices.SWAP_HOOKS, matrix_swaps.on_swap)
    for model in (Team, Repo):
        uid = f"matrix-topic-{model.__name__}"
        post_save.connect(matrix_tasks.on_saved, sender=model, dispatch_uid=uid)


def unregister_matrix() -> None:
    """Unplug it again."""
    channels.unregister(Notification.Channel.MATRIX)
    channels.unregister(Notification.Channel.MATRIX_DM)
    _remove(targets.PERSON_CHANNELS, targets.by_matrix_mention)
    _remove(changes.HOOKS, matrix_tasks.on_incident_changed)
    _remove(notices.HANDOFF_HOOKS, topic.on_handoff)
    _remove(swap_notices.SWAP_HOOKS, matrix_swaps.on_swap)
    for model in (Team, Repo):
        post_save.disconnect(sender=model, dispatch_uid=f"matrix-topic-{model.__name__}")
    channel.client.cache_clear()


def _add(hooks: list[Any], hook: Any) -> None:
    if hook not in hooks:
        hooks.append(hook)


def _remove(hooks: list[Any], hook: Any) -> None:
    if hook in hooks:
        hooks.remove(hook)
