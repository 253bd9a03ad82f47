"""Applying a document: validate every item, write in one transaction, answer the plan.

Kinds are written in dependency order (people, teams, rotations, overrides,
contacts, policies, repos, routes, silences, watches), each item through its API
serializer inside a savepoint, so every problem of the document is collected with
its path. Any problem rolls the whole transaction back: nothing is applied. An item
equal to what is stored is not written at all, so applying a document twice changes
nothing. With ``prune``, items of the document's kinds that it does not name are
deleted, in reverse order; a delete blocked by a reference that protects the row is
a problem like any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from escalation.config import document as doc
from escalation.config import plan
from escalation.config.kinds import ENDS, KINDS, Kind
from escalation.config.rotation_versions import create as create_rotation
from escalation.config.rotation_versions import flatten, validate_versions
from escalation.config.rotation_versions import update as update_rotation
from rotations import services as rotation_services
from rotations.models import Override

Errors = dict[str, list[str]]

#: Kinds whose natural key is the value of one field (the rest are composite).
SLUGS = {
    "person": "handle",
    "team": "slug",
    "rotation": "slug",
    "contact": "slug",
    "policy": "slug",
    "repo": "name",
    "watch": "slug",
}


class _Rollback(Exception):
    pass


def run(document: Any, *, prune: bool = False, commit: bool = True) -> list[plan.Change]:
    """Apply ``document`` (a dry run when not ``commit``) and return the plan.

    Raises ``plan.Invalid`` (nothing applied) when anything is wrong."""
    kinds = plan.check_shape(document)
    now = timezone.now()
    changes: list[plan.Change] = []
    errors: Errors = {}
    try:
        with transaction.atomic():
            before = doc.export(now)
            keys = {
                kind.plural: _apply_kind(kind, kinds[kind.plural], now, errors)
                for kind in KINDS
                if kind.plural in kinds
            }
            if prune:
                for kind in reversed(KINDS):
                    if kind.plural in keys:
                        _prune(kind, keys[kind.plural], now, errors)
            if errors:
                raise _Rollback
            changes = plan.diff(before, doc.export(now))
            if not commit:
                raise _Rollback
    except _Rollback:
        pass
    if errors:
        raise plan.Invalid(errors)
    return changes


def _apply_kind(kind: Kind, items: list[Any], now: datetime, errors: Errors) -> set[str]:
    """Write the document's items of one kind; the natural keys it names."""
    existing = {kind.key(doc.represent(kind, obj, now)): obj for obj in kind.current(now)}
    allowed = set(kind.writable()) | ({"versions"} if kind.name == "rotation" else set())
    seen: dict[str, str] = {}
    for index, item in _indexed(items, kind):
        path = f"{kind.plural}[{index}]"
        if not isinstance(item, dict):
            errors[path] = ["Must be a mapping of fields."]
            continue
        unknown = sorted(str(name) for name in item if name not in allowed)
        for name in unknown:
            errors[f"{path}.{name}"] = [f"Unknown field: use {', '.join(sorted(allowed))}."]
        if unknown:
            continue
        key = _key(kind, item, path, now, errors)
        if key is None:
            continue
        if key in seen:
            errors[path] = [f"Duplicate {kind.name} {key!r}: also at {seen[key]}."]
            continue
        seen[key] = path
        try:
            with transaction.atomic():
                _write(kind, item, existing.get(key), now, errors, path)
        except DjangoValidationError as error:
            flatten(
                error.message_dict if hasattr(error, "error_dict") else error.messages, path, errors
            )
        except (IntegrityError, DatabaseError) as error:
            errors[path] = [f"Refused by the database: {str(error).strip().splitlines()[0]}"]
    return set(seen)


def _indexed(items: list[Any], kind: Kind) -> list[tuple[int, Any]]:
    """The items with their index in the document; policies that are not the default
    first, so one can give up ``is_default`` before another takes it."""
    if kind.name != "policy":
        return list(enumerate(items))
    return sorted(
        enumerate(items),
        key=lambda pair: isinstance(pair[1], dict) and bool(pair[1].get("is_default")),
    )


def _key(kind: Kind, item: dict[str, Any], path: str, now: datetime, errors: Errors) -> str | None:
    """The item's natural key, from the raw item (slugs) or its validated data."""
    if kind.name in SLUGS:
        value = item.get(SLUGS[kind.name])
        if not isinstance(value, str) or not value:
            errors[f"{path}.{SLUGS[kind.name]}"] = ["Required: the natural key of the item."]
            return None
        return value
    serializer = kind.serializer(data=item)
    if not serializer.is_valid():
        flatten(serializer.errors, path, errors)
        return None
    data = serializer.validated_data
    end = ENDS.get(kind.name)
    if end and data[end] <= now:
        errors[f"{path}.{end}"] = [
            f"Already ended: a past {kind.name} is history, not configuration."
        ]
        return None
    return kind.key(dict(data))


def _write(
    kind: Kind, item: dict[str, Any], instance: Any, now: datetime, errors: Errors, path: str
) -> None:
    if kind.name == "rotation":
        fields = {k: v for k, v in item.items() if k != "versions"}
        versions = validate_versions(item.get("versions"), errors, path)
        if versions is None:
            return
        if instance is None:
            create_rotation(fields, versions, now, errors, path)
        else:
            update_rotation(instance, fields, versions, now, errors, path)
        return
    serializer = kind.serializer(instance, data=item)
    if not serializer.is_valid():
        flatten(serializer.errors, path, errors)
        return
    if instance is not None and not _changed(instance, serializer.validated_data):
        return
    serializer.save()


def _changed(instance: Any, data: dict[str, Any]) -> bool:
    for name, value in data.items():
        current = getattr(instance, name)
        if hasattr(current, "all"):  # many-to-many
            if set(current.all()) != set(value):
                return True
        elif current != value:
            return True
    return False


def _prune(kind: Kind, keep: set[str], now: datetime, errors: Errors) -> None:
    for obj in kind.current(now):
        key = kind.key(doc.represent(kind, obj, now))
        if key in keep:
            continue
        try:
            with transaction.atomic():
                if isinstance(obj, Override):
                    rotation_services.delete_override(obj)
                else:
                    obj.delete()
        except (ProtectedError, RestrictedError) as error:
            held = (
                error.protected_objects
                if isinstance(error, ProtectedError)
                else (error.restricted_objects)
            )
            names = sorted({f"{o._meta.verbose_name} {str(o)!r}" for o in held})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            errors.setdefault(kind.plural, []).append(
                f"Cannot delete {kind.name} {key!r} (absent from the document): "
                f"still referenced by {shown}."
            )
