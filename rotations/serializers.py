"""REST representations of people, teams, rotations, overrides and on-call answers."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from oncall.api.fields import ModelSerializer
from rotations import schedule, services, windows
from rotations.models import Override, Person, Rotation, Team, validate_timezone


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "09:00",
    }
)
class HHMMField(serializers.TimeField):
    """A wall-clock time written ``HH:MM`` (``HH:MM:SS`` accepted), which OpenAPI's
    ``format: time`` (RFC 3339, with seconds and offset) does not describe."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


HHMM = HHMMField()


class FeedUrlsMixin(serializers.Serializer):
    """``ical_url``/``webcal_url`` from ``context["feed_urls"]`` (primary key → URLs):
    the view puts there the links this reader may see, or the ones just issued."""

    ical_url = serializers.SerializerMethodField()
    webcal_url = serializers.SerializerMethodField()

    def _feed_urls(self, obj: Any) -> dict[str, str]:
        issued = self.context.get("feed_urls", {})
        return issued.get(obj.pk, {}) if isinstance(obj, self.Meta.model) else {}  # type: ignore[attr-defined]

    def get_ical_url(self, obj: Any) -> str | None:
        return self._feed_urls(obj).get("ical_url")

    def get_webcal_url(self, obj: Any) -> str | None:
        return self._feed_urls(obj).get("webcal_url")


def person_brief(person: Any) -> dict[str, Any] | None:
    """The contract's PERSON object (a plain dict: on hot paths a serializer costs more
    than the lookup it renders)."""
    if person is None:
        return None
    return {
        "handle": person.handle,
        "name": person.name,
        "email": person.email,
        "matrix_id": person.matrix_id,
        "timezone": person.timezone,
    }


PERSON_KEYS = ("handle", "name", "email", "matrix_id", "timezone")


@extend_schema_field(
    {
        "type": "object",
        "required": list(PERSON_KEYS),
        "properties": {key: {"type": "string"} for key in PERSON_KEYS},
    }
)
class PersonBriefField(serializers.Field):
    """The PERSON object; declare ``allow_null=True`` where it may be null (the schema
    says ``nullable`` then)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> dict[str, Any] | None:
        return person_brief(value)


class PersonSerializer(FeedUrlsMixin, ModelSerializer):
    timezone = serializers.CharField(default="UTC", validators=[validate_timezone])

    class Meta:
        model = Person
        fields = [
            "handle",
            "name",
            "email",
            "matrix_id",
            "timezone",
            "active",
            "ical_url",
            "webcal_url",
        ]


class PersonField(serializers.SlugRelatedField):
    """A person by handle; an unknown one is a clear field error."""

    default_error_messages = {
        "does_not_exist": "Unknown person {value!r}.",
        "invalid": "Give a person's handle.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Person.objects.all())
        super().__init__(slug_field="handle", **kwargs)


class TeamSerializer(FeedUrlsMixin, ModelSerializer):
    members = PersonField(many=True, required=False)
    leads = PersonField(many=True, required=False)

    class Meta:
        model = Team
        fields = [
            "slug",
            "name",
            "members",
            "leads",
            "swap_approval",
            "matrix_room",
            "email",
            "ical_url",
            "webcal_url",
        ]


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["days", "start", "end"],
            "properties": {
                "days": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "enum": list(windows.DAYS)},
                },
                "start": {"type": "string", "example": "09:00"},
                "end": {"type": "string", "example": "17:00"},
            },
        },
        "description": "Days and HH:MM hours in the rotation's time zone in which somebody "
        "is on call; an end at or before the start runs into the next day. Empty: always.",
    }
)
class WindowsField(serializers.Field):
    """``active_windows``: checked as a whole in the serializer's ``validate`` so each
    problem is keyed by its path (``active_windows[1].start``)."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return windows.dump(windows.parse(value))


class VersionSerializer(serializers.Serializer):
    effective_from = serializers.DateField()
    members = serializers.SerializerMethodField()
    shift_days = serializers.IntegerField()
    handoff_time = HHMM
    timezone = serializers.CharField()
    active_windows = WindowsField()

    def get_members(self, version: Any) -> list[str]:
        return [m.person.handle for m in version.members.all()]


class RotationSerializer(FeedUrlsMixin, ModelSerializer):
    """Writes of members, shift_days, handoff_time or timezone on an existing rotation
    create a new version from ``effective_from`` (default: the next handoff)."""

    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False
    )
    members = PersonField(many=True, allow_empty=False)
    shift_days = serializers.IntegerField(min_value=1, max_value=366)
    handoff_time = HHMM
    timezone = serializers.CharField(validators=[validate_timezone])
    start = serializers.DateField(help_text="The date of the first handoff.")
    effective_from = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Date of the first handoff under this definition; edits only.",
    )
    active_windows = WindowsField(required=False)
    versions = VersionSerializer(many=True, read_only=True)

    SCHEDULE_FIELDS = ("members", "shift_days", "handoff_time", "timezone", "active_windows")

    class Meta:
        model = Rotation
        fields = [
            "slug",
            "name",
            "team",
            "members",
            "shift_days",
            "handoff_time",
            "timezone",
            "active_windows",
            "start",
            "effective_from",
            "versions",
            "ical_url",
            "webcal_url",
        ]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if self.instance is not None:  # on edits the schedule fields are optional
            for name in (*self.SCHEDULE_FIELDS, "start"):
                fields[name].required = False
            fields["start"].read_only = True
        return fields

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "active_windows" in data:
            try:
                data["active_windows"] = windows.parse(data["active_windows"])
            except windows.WindowError as error:
                raise serializers.ValidationError(error.errors) from None
        return data

    def to_representation(self, rotation: Rotation) -> dict[str, Any]:
        data: dict[str, Any] = {
            "slug": rotation.slug,
            "name": rotation.name,
            "team": rotation.team.slug if rotation.team else None,
        }
        versions = list(rotation.versions.all())
        current = services.current_version(rotation, timezone.now())
        if current is not None:
            data.update(
                members=[m.person.handle for m in current.members.all()],
                shift_days=current.shift_days,
                handoff_time=current.handoff_time.strftime("%H:%M"),
                timezone=current.timezone,
                active_windows=windows.dump(windows.parse(current.active_windows)),
                start=versions[0].effective_from.isoformat(),
                effective_from=current.effective_from.isoformat(),
            )
        data["versions"] = VersionSerializer(versions, many=True).data
        data["ical_url"] = self.get_ical_url(rotation)
        data["webcal_url"] = self.get_webcal_url(rotation)
        return data

    def create(self, data: dict[str, Any]) -> Rotation:
        spec = services.ScheduleSpec(
            data["members"],
            data["shift_days"],
            data["handoff_time"],
            data["timezone"],
            data.get("active_windows", ()),
        )
        return services.create_rotation(
            slug=data["slug"],
            name=data["name"],
            team=data.get("team"),
            spec=spec,
            start=data["start"],
        )

    def update(self, rotation: Rotation, data: dict[str, Any]) -> Rotation:
        for name in ("slug", "name", "team"):
            if name in data:
                setattr(rotation, name, data[name])
        rotation.save()
        if any(name in data for name in self.SCHEDULE_FIELDS):
            current = services.current_version(rotation, timezone.now())
            assert current is not None  # noqa: S101 (every rotation is created with a version)
            spec = services.ScheduleSpec(
                data.get("members", [m.person for m in current.members.all()]),
                data.get("shift_days", current.shift_days),
                data.get("handoff_time", current.handoff_time),
                data.get("timezone", current.timezone),
                data.get("active_windows", windows.parse(current.active_windows)),
            )
            services.edit_schedule(rotation, spec, data.get("effective_from"))
        return (
            Rotation.objects.prefetch_related(*_rotation_prefetch())
            .select_related("team")
            .get(pk=rotation.pk)
        )


def _rotation_prefetch() -> list[Any]:
    from rotations.selectors import versions_prefetch

    return [versions_prefetch()]


class OverrideSerializer(ModelSerializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    person = PersonField()
    backup = PersonField(required=False, allow_null=True)

    class Meta:
        model = Override
        fields = ["id", "rotation", "person", "backup", "start", "end", "reason", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        start = data.get("start", getattr(self.instance, "start", None))
        end = data.get("end", getattr(self.instance, "end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        return data

    def create(self, data: dict[str, Any]) -> Override:
        return services.create_override(**data)


class FeedUrlsSerializer(serializers.Serializer):
    """The answer of ``…/ical/reset/``: the new feed's URLs (the old ones are dead)."""

    ical_url = serializers.URLField()
    webcal_url = serializers.CharField(help_text="The same feed as a webcal:// URL.")


class SpanSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class OnCallSerializer(serializers.Serializer):
    """The answer of ``GET /api/v1/oncall/`` (documentation; ``oncall_body`` renders it)."""

    at = serializers.DateTimeField()
    rotation = serializers.CharField(allow_null=True)
    primary = PersonBriefField(allow_null=True)
    backup = PersonBriefField(allow_null=True)
    shift = SpanSerializer(allow_null=True, help_text="The piece of the schedule holding at.")
    override = serializers.BooleanField()
    repo = serializers.CharField(required=False, help_text="Only when asked by repo.")
    backup_rotation = serializers.CharField(
        required=False, allow_null=True, help_text="Only when asked by repo."
    )
    backup_rotation_primary = PersonBriefField(
        required=False, allow_null=True, help_text="Only when asked by repo."
    )


class ShiftSerializer(serializers.Serializer):
    person = PersonBriefField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    override = serializers.BooleanField()


def oncall_body(at: Any, rotation: Rotation | None, answer: schedule.OnCall) -> dict[str, Any]:
    """The contract's on-call answer."""

    shift = answer.shift
    return {
        "at": serializers.DateTimeField().to_representation(at),
        "rotation": rotation.slug if rotation else None,
        "primary": person_brief(answer.primary),
        "backup": person_brief(answer.backup),
        "shift": None
        if shift is None
        else {
            "start": serializers.DateTimeField().to_representation(shift.start),
            "end": serializers.DateTimeField().to_representation(shift.end),
        },
        "override": bool(shift and shift.override),
    }
