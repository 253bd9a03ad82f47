"""Rotations in the document: the rotation's fields plus its effective-dated ``versions``.

A rotation is exported with the version in force now and every version to come
(earlier ones are history). Applying follows the rules of ``rotations.services``:
versions that already took effect must stay as they are (a document that changes
one is invalid); from the first date where the document and the database differ
on, the future versions are replaced by the document's, each through
``edit_schedule`` from its own ``effective_from``. ``offset`` is the position in
``members`` of the person taking the version's first shift; left out, an edit
continues the order (``edit_schedule``'s rule).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from rotations import generation, services, windows
from rotations.models import Rotation, RotationVersion, validate_timezone
from rotations.serializers import HHMMField, PersonField, RotationSerializer

Errors = dict[str, list[str]]
SCHEDULE = ("members", "shift_days", "handoff_time", "timezone")


class HandoffField(HHMMField):
    """``HH:MM``; YAML 1.1 reads an unquoted ``10:00`` as the base-60 number 600, which
    is taken back as 10:00 (``09:00`` stays text: a leading zero is no number)."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            value = f"{value // 60:02d}:{value % 60:02d}"
        return super().to_internal_value(value)


class VersionInput(serializers.Serializer):
    """One version of a rotation as the document writes it."""

    effective_from = serializers.DateField()
    members = PersonField(many=True, allow_empty=False)
    shift_days = serializers.IntegerField(min_value=1, max_value=366)
    handoff_time = HandoffField()
    timezone = serializers.CharField(validators=[validate_timezone])
    offset = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    active_windows = serializers.JSONField(required=False)

    def validate_active_windows(self, value: Any) -> Any:
        try:
            return windows.parse(value)
        except windows.WindowError as error:
            raise serializers.ValidationError(
                [f"{path}: {' '.join(messages)}" for path, messages in error.errors.items()]
            ) from None

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("active_windows", ())
        members = data["members"]
        if len({p.pk for p in members}) != len(members):
            raise serializers.ValidationError({"members": ["A person can appear only once."]})
        offset = data.get("offset")
        if offset is not None and offset >= len(members):
            raise serializers.ValidationError({"offset": ["Must be the position of a member."]})
        return data


def version_repr(version: RotationVersion) -> dict[str, Any]:
    found = windows.dump(windows.parse(version.active_windows))
    return {
        "effective_from": version.effective_from.isoformat(),
        "members": [m.person.handle for m in version.members.all()],
        "shift_days": version.shift_days,
        "handoff_time": version.handoff_time.strftime("%H:%M"),
        "timezone": version.timezone,
        "offset": version.offset,
        # Only a rotation with windows says so: the others read as before windows existed.
        **({"active_windows": found} if found else {}),
    }


def export_versions(rotation: Rotation, now: datetime) -> list[dict[str, Any]]:
    """The version in force at ``now`` and the later ones (versions prefetched)."""
    current = services.current_version(rotation, now)
    if current is None:
        return []
    return [
        version_repr(v)
        for v in rotation.versions.all()
        if v.effective_from >= current.effective_from
    ]


def _signature(data: dict[str, Any], with_offset: bool) -> tuple[Any, ...]:
    """What makes two versions the same (validated data or a stored version)."""
    handoff = data["handoff_time"]
    return (
        data["effective_from"],
        tuple(p.pk for p in data["members"]),
        data["shift_days"],
        handoff.strftime("%H:%M"),
        data["timezone"],
        data.get("offset") if with_offset else None,
        tuple(data.get("active_windows", ())),
    )


def _stored(version: RotationVersion) -> dict[str, Any]:
    return {
        "effective_from": version.effective_from,
        "members": [m.person for m in version.members.all()],
        "shift_days": version.shift_days,
        "handoff_time": version.handoff_time,
        "timezone": version.timezone,
        "offset": version.offset,
        "active_windows": windows.parse(version.active_windows),
    }


def _starts(data: dict[str, Any]) -> datetime:
    return datetime.combine(
        data["effective_from"], data["handoff_time"], tzinfo=ZoneInfo(data["timezone"])
    )


def _spec(data: dict[str, Any]) -> services.ScheduleSpec:
    return services.ScheduleSpec(
        data["members"],
        data["shift_days"],
        data["handoff_time"],
        data["timezone"],
        tuple(data.get("active_windows", ())),
    )


def validate_versions(raw: Any, errors: Errors, path: str) -> list[dict[str, Any]] | None:
    """The document's versions, validated and in date order (None when invalid)."""
    if not isinstance(raw, list) or not raw:
        errors[f"{path}.versions"] = ["A list of at least one version."]
        return None
    valid: list[dict[str, Any]] = []
    seen: set[date] = set()
    for j, item in enumerate(raw):
        where = f"{path}.versions[{j}]"
        checked = VersionInput(data=item)
        if not checked.is_valid():
            flatten(checked.errors, where, errors)
            continue
        data = dict(checked.validated_data)
        if data["effective_from"] in seen:
            errors[f"{where}.effective_from"] = ["Two versions from the same date."]
            continue
        seen.add(data["effective_from"])
        valid.append(data)
    if len(valid) != len(raw):
        return None
    return sorted(valid, key=lambda data: data["effective_from"])


def create(
    fields: dict[str, Any], versions: list[dict[str, Any]], now: datetime, errors: Errors, path: str
) -> None:
    """A new rotation: the first version may start in the past, later ones may not."""
    first = versions[0]
    data = {
        **fields,
        "members": [p.handle for p in first["members"]],
        "shift_days": first["shift_days"],
        "handoff_time": first["handoff_time"].strftime("%H:%M:%S"),
        "timezone": first["timezone"],
        "start": first["effective_from"].isoformat(),
        "active_windows": windows.dump(first.get("active_windows", ())),
    }
    serializer = RotationSerializer(data=data)
    if not serializer.is_valid():
        flatten(serializer.errors, path, errors)
        return
    rotation = serializer.save()
    if first.get("offset"):
        RotationVersion.objects.filter(rotation=rotation).update(offset=first["offset"])
        generation.bump()
    _add_future(rotation, versions[1:], now, errors, path, start_index=1)


def _add_future(
    rotation: Rotation,
    versions: list[dict[str, Any]],
    now: datetime,
    errors: Errors,
    path: str,
    start_index: int,
) -> None:
    for j, data in enumerate(versions, start=start_index):
        try:
            services.edit_schedule(
                rotation, _spec(data), data["effective_from"], now=now, offset=data.get("offset")
            )
        except DjangoValidationError as error:
            for name, messages in error.message_dict.items():
                errors[f"{path}.versions[{j}].{name}"] = list(messages)


def update(
    rotation: Rotation,
    fields: dict[str, Any],
    versions: list[dict[str, Any]],
    now: datetime,
    errors: Errors,
    path: str,
) -> None:
    """An existing rotation: its own fields, then its versions from the first difference."""
    serializer = RotationSerializer(rotation, data=fields, partial=True)
    if not serializer.is_valid():
        flatten(serializer.errors, path, errors)
        return
    if any(_differs(getattr(rotation, k), v) for k, v in serializer.validated_data.items()):
        serializer.save()
    stored = list(RotationVersion.objects.filter(rotation=rotation).prefetch_related("members"))
    since = versions[0]["effective_from"]
    took_effect = [_stored(v) for v in stored if v.starts_at() <= now and v.effective_from >= since]
    past = [data for data in versions if _starts(data) <= now]
    if not _same_past(took_effect, past):
        errors[f"{path}.versions"] = [
            "Versions that already took effect never change (past shifts stay): keep them "
            "as exported and add a version with a future effective_from."
        ]
        return
    future_stored = [_stored(v) for v in stored if v.starts_at() > now]
    future = [data for data in versions if _starts(data) > now]
    change = _first_difference(future_stored, future)
    if change is None:
        return
    # edit_schedule replaces every version from its date on: the first call clears the rest.
    services.drop_future_versions(rotation, change, now=now)
    index = {id(data): j for j, data in enumerate(versions)}
    for data in future:
        if data["effective_from"] >= change:
            _add_future(rotation, [data], now, errors, path, start_index=index[id(data)])


def _same_past(stored: list[dict[str, Any]], past: list[dict[str, Any]]) -> bool:
    if len(stored) != len(past):
        return False
    by_date = {v["effective_from"]: v for v in stored}
    for data in past:
        mine = by_date.get(data["effective_from"])
        with_offset = data.get("offset") is not None
        if mine is None or _signature(mine, with_offset) != _signature(data, with_offset):
            return False
    return True


def _first_difference(stored: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> date | None:
    """The first date from which the stored future versions and the wanted ones differ."""
    for mine, theirs in zip(stored, wanted, strict=False):
        with_offset = theirs.get("offset") is not None
        if _signature(mine, with_offset) != _signature(theirs, with_offset):
            return min(mine["effective_from"], theirs["effective_from"])
    if len(stored) > len(wanted):
        return stored[len(wanted)]["effective_from"]
    if len(wanted) > len(stored):
        return wanted[len(stored)]["effective_from"]
    return None


def _differs(current: Any, value: Any) -> bool:
    if hasattr(current, "all"):  # a related manager
        return set(current.all()) != set(value)
    return bool(current != value)


def flatten(detail: Any, path: str, errors: Errors) -> None:
    """DRF's nested errors as ``{"rotations[2].versions[0].timezone": [...]}``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            where = path if key == "non_field_errors" else f"{path}.{key}"
            flatten(value, where, errors)
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        for i, value in enumerate(detail):
            if value:
                flatten(value, f"{path}[{i}]", errors)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        errors.setdefault(path, []).extend(str(m) for m in messages)
