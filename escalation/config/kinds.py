"""The kinds of the configuration document, in dependency order, and their natural keys.

Every kind is written through its REST serializer, so validation and the writable
field set are the API's: a field added to a serializer is configuration as code too.
Kinds without a slug are keyed by what identifies them for a reader:

- routes: ``order`` + ``repo`` + ``match``;
- overrides: ``rotation`` + ``person`` + ``start``;
- silences: ``match`` + ``starts``.

Changing a part of such a key makes a new item (and, with ``--prune``, deletes the old).
Overrides and silences that have ended are history, not configuration: they are
neither exported nor pruned, and a document may not create one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from rest_framework import serializers

from escalation import serializers as api
from escalation.models import Contact, EscalationPolicy, Repo, Route, Silence, Watch
from escalation.watch_views import WatchSerializer
from rotations import serializers as rotation_api
from rotations.models import Override, Person, Rotation, Team


def _match_key(match: Any) -> str:
    return json.dumps(match, sort_keys=True, ensure_ascii=False, default=str)


def _when(value: Any) -> str:
    """An instant as the API writes it (UTC, ``Z``), whether parsed or already text."""
    if isinstance(value, str):
        return value
    return serializers.DateTimeField().to_representation(value)


def _slug_of(value: Any, attr: str) -> str:
    return getattr(value, attr) if isinstance(value, models.Model) else str(value or "")


@dataclass(frozen=True)
class Kind:
    """One top-level key of the document."""

    name: str  # the singular used in plans: "rotation"
    plural: str  # the document's key: "rotations"
    model: type[models.Model]
    serializer: type[serializers.Serializer]
    #: The natural key of an item, from its representation or its validated data.
    key: Callable[[dict[str, Any]], str]
    #: The rows that are configuration (the exported and prunable ones).
    current: Callable[[datetime], models.QuerySet[Any]]
    #: Fields written by the document besides the serializer's writable ones.
    exclude: tuple[str, ...] = field(default=())

    def writable(self) -> list[str]:
        fields = self.serializer().fields
        return [
            name
            for name, f in fields.items()
            if not f.read_only and name not in self.exclude and name != "id"
        ]


def _by(attr: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: str(item.get(attr, ""))


def _route_key(item: dict[str, Any]) -> str:
    return (
        f"{item.get('order', 100)} {_slug_of(item.get('repo'), 'name') or '*'} "
        f"{_match_key(item.get('match', {}))}"
    )


def _override_key(item: dict[str, Any]) -> str:
    return (
        f"{_slug_of(item.get('rotation'), 'slug')}/{_slug_of(item.get('person'), 'handle')}"
        f"@{_when(item.get('start', ''))}"
    )


def _silence_key(item: dict[str, Any]) -> str:
    return f"{_match_key(item.get('match', {}))}@{_when(item.get('starts', ''))}"


KINDS: list[Kind] = [
    Kind(
        "person",
        "people",
        Person,
        rotation_api.PersonSerializer,
        _by("handle"),
        lambda now: Person.objects.all(),
    ),
    Kind(
        "team",
        "teams",
        Team,
        rotation_api.TeamSerializer,
        _by("slug"),
        lambda now: Team.objects.prefetch_related("members"),
    ),
    Kind(
        "rotation",
        "rotations",
        Rotation,
        rotation_api.RotationSerializer,
        _by("slug"),
        lambda now: Rotation.objects.select_related("team"),
        # The schedule is written as effective-dated ``versions`` (rotation_versions).
        exclude=(
            "members",
            "shift_days",
            "handoff_time",
            "timezone",
            "start",
            "effective_from",
            "active_windows",
        ),
    ),
    Kind(
        "override",
        "overrides",
        Override,
        rotation_api.OverrideSerializer,
        _override_key,
        lambda now: Override.objects.filter(deleted_at__isnull=True, end__gt=now).select_related(
            "rotation", "person", "backup"
        ),
    ),
    Kind(
        "contact",
        "contacts",
        Contact,
        api.ContactSerializer,
        _by("slug"),
        lambda now: Contact.objects.all(),
    ),
    Kind(
        "policy",
        "policies",
        EscalationPolicy,
        api.PolicySerializer,
        _by("slug"),
        lambda now: EscalationPolicy.objects.all(),
    ),
    Kind(
        "repo",
        "repos",
        Repo,
        api.RepoSerializer,
        _by("name"),
        lambda now: Repo.objects.select_related("team", "rotation", "backup_rotation", "policy"),
    ),
    Kind(
        "route",
        "routes",
        Route,
        api.RouteSerializer,
        _route_key,
        lambda now: Route.objects.select_related("repo", "policy").prefetch_related("forward_to"),
    ),
    Kind(
        "silence",
        "silences",
        Silence,
        api.SilenceSerializer,
        _silence_key,
        lambda now: Silence.objects.filter(ends__gt=now).select_related("created_by"),
    ),
    Kind(
        "watch",
        "watches",
        Watch,
        WatchSerializer,
        _by("slug"),
        lambda now: Watch.objects.select_related("repo", "policy"),
    ),
]

BY_PLURAL = {kind.plural: kind for kind in KINDS}

#: Fields whose end, once past, makes an item history (not configuration).
ENDS = {"override": "end", "silence": "ends"}
