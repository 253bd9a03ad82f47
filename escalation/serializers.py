"""REST representations of repos, routes, policies, contacts, silences and incidents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escalation import matching, policies, selectors
from escalation.models import Contact, EscalationPolicy, Incident, Repo, Route, Silence
from escalation.services import lifecycle
from oncall.api.fields import ModelSerializer
from rotations.models import Rotation, Team
from rotations.serializers import PersonBriefField, PersonField, person_brief


class ContactSerializer(ModelSerializer):
    class Meta:
        model = Contact
        fields = ["slug", "name", "email", "matrix_id"]


class PolicySerializer(ModelSerializer):
    class Meta:
        model = EscalationPolicy
        fields = [
            "slug",
            "name",
            "steps",
            "repeat",
            "claim_timeout_seconds",
            "is_default",
            "important",
        ]

    def validate_steps(self, steps: Any) -> Any:
        problems = policies.validate_steps(steps)
        if problems:
            raise serializers.ValidationError(problems)
        return steps


def _slug_field(model: Any, slug: str = "slug", **kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field=slug, queryset=model.objects.all(), allow_null=True, required=False, **kwargs
    )


class RepoSerializer(ModelSerializer):
    team = _slug_field(Team)
    rotation = _slug_field(Rotation)
    backup_rotation = _slug_field(Rotation)
    policy = _slug_field(EscalationPolicy)

    class Meta:
        model = Repo
        fields = [
            "name",
            "team",
            "rotation",
            "backup_rotation",
            "policy",
            "workflow",
            "matrix_room",
        ]


class MatchField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        problems = matching.validate_match(value)
        if problems:
            raise serializers.ValidationError([f"{k}: {', '.join(v)}" for k, v in problems.items()])
        return value


class RouteSerializer(ModelSerializer):
    match = MatchField()
    repo = _slug_field(Repo, "name")
    policy = _slug_field(EscalationPolicy)
    forward_to = serializers.SlugRelatedField(
        slug_field="slug", queryset=Contact.objects.all(), many=True, required=False
    )

    class Meta:
        model = Route
        fields = [
            "id",
            "order",
            "match",
            "repo",
            "category",
            "policy",
            "forward_to",
            "workflow",
            "min_occurrences",
            "window_seconds",
            "action",
        ]


class SilenceSerializer(ModelSerializer):
    match = MatchField()
    created_by = PersonField(required=False, allow_null=True)

    class Meta:
        model = Silence
        fields = ["id", "match", "starts", "ends", "comment", "created_by", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        starts = data.get("starts", getattr(self.instance, "starts", None))
        ends = data.get("ends", getattr(self.instance, "ends", None))
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends": ["Must be after starts."]})
        return data


class EscalationStateSerializer(serializers.Serializer):
    policy = serializers.CharField()
    step = serializers.IntegerField()
    next_at = serializers.DateTimeField(allow_null=True)


class ResponderSerializer(serializers.Serializer):
    """A person or team brought in on the incident (exactly one of ``person``, ``team``)."""

    person = PersonBriefField(allow_null=True)
    team = serializers.CharField(
        source="team.slug", read_only=True, allow_null=True, help_text="a team slug"
    )
    added_by = PersonBriefField(allow_null=True)
    added_at = serializers.DateTimeField()


class IncidentSerializer(serializers.ModelSerializer):
    """The contract's incident. ``responsible`` comes from the view's context
    (``responsible``: repo id → [Person]) so a page of incidents costs constant queries."""

    claimed_by = PersonBriefField(allow_null=True)
    resolved_by = PersonBriefField(allow_null=True)
    # Empty when the sender gave none, so not ``format: uri``.
    url = serializers.CharField(read_only=True, help_text="An http(s) URL, or empty.")
    log_url = serializers.CharField(read_only=True, help_text="An http(s) URL, or empty.")
    responsible = serializers.SerializerMethodField()
    escalation = serializers.SerializerMethodField()
    forwarded_to: serializers.Field = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    muted = serializers.SerializerMethodField()
    responders = ResponderSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "state",
            "muted_until",
            "muted",
            "source",
            "repo",
            "job",
            "pipeline",
            "branch",
            "subject",
            "result",
            "category",
            "category_reason",
            "summary",
            "url",
            "log_url",
            "labels",
            "dedup_key",
            "occurrences",
            "first_seen",
            "last_seen",
            "claimed_by",
            "claimed_at",
            "resolved_at",
            "resolved_by",
            "responsible",
            "escalation",
            "workflow",
            "owned",
            "pages",
            "forwarded_to",
            "responders",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=PersonBriefField()))
    def get_responsible(self, incident: Incident) -> list[dict[str, Any] | None]:
        people = self.context.get("responsible", {}).get(incident.repo_ref_id, [])
        return [person_brief(p) for p in people]

    @extend_schema_field(EscalationStateSerializer(allow_null=True))
    def get_escalation(self, incident: Incident) -> dict[str, Any] | None:
        view = selectors.escalation_view(incident, self.context.get("now"))
        if view and view["next_at"] is not None:
            view["next_at"] = serializers.DateTimeField().to_representation(view["next_at"])
        return view

    def get_muted(self, incident: Incident) -> bool:
        return incident.is_muted(self.context.get("now"))


class TimelineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    actor = PersonBriefField(allow_null=True)
    channel = serializers.CharField()
    detail = serializers.CharField()


class OccurrenceBriefSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    occurred_at = serializers.DateTimeField(allow_null=True)


class IncidentDetailSerializer(IncidentSerializer):
    timeline = TimelineSerializer(many=True, read_only=True)
    history = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "timeline", "history"]
        read_only_fields = fields

    @extend_schema_field(OccurrenceBriefSerializer(many=True))
    def get_history(self, incident: Incident) -> list[dict[str, Any]]:
        """The latest occurrences (bounded), newest first."""
        when = serializers.DateTimeField()
        return [
            {
                "received_at": when.to_representation(o.received_at),
                "occurred_at": when.to_representation(o.occurred_at) if o.occurred_at else None,
            }
            for o in incident.history.all()[:20]
        ]


class ActionSerializer(serializers.Serializer):
    by = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="handle, e-mail or Matrix ID; a person's token may omit it",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")
    minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=lifecycle.MAX_MUTE // timedelta(minutes=1)
    )
    until = serializers.DateTimeField(required=False)


class ByActionSerializer(serializers.Serializer):
    by = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="handle, e-mail or Matrix ID; a person's token may omit it",
    )


class ReassignSerializer(ByActionSerializer):
    to = serializers.CharField(help_text="the person to claim it for: handle, e-mail or Matrix ID")


class AddResponderSerializer(ByActionSerializer):
    add = serializers.CharField(
        help_text="a person (handle, e-mail, Matrix ID) or a team slug; team:SLUG for the team"
    )


class NoteSerializer(ByActionSerializer):
    text = serializers.CharField(max_length=lifecycle.NOTE_MAX)


# Documentation of answers rendered from plain dicts (ingestion, coverage) -----------------


class IngestedIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created = serializers.BooleanField()
    state = serializers.ChoiceField(choices=Incident.State.choices)
    occurrences = serializers.IntegerField()


class IngestResultSerializer(serializers.Serializer):
    """The 202 of every ingest endpoint: the incidents the delivery touched."""

    incidents = IngestedIncidentSerializer(many=True)
    ignored = serializers.IntegerField(help_text="Reports ignored by a route or the source.")


class GapSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class RotationGapsSerializer(serializers.Serializer):
    rotation = serializers.CharField()
    repos = serializers.ListField(child=serializers.CharField())
    gaps = GapSerializer(many=True)


class UnownedFailureSerializer(serializers.Serializer):
    repo = serializers.CharField()
    job = serializers.CharField()
    incidents = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


class CoverageSerializer(serializers.Serializer):
    """``GET /api/v1/coverage/``: what nobody covers in [from, to)."""

    from_ = serializers.DateTimeField()
    to = serializers.DateTimeField()
    repos_without_rotation = serializers.ListField(child=serializers.CharField())
    rotations_with_gaps = RotationGapsSerializer(many=True)
    unowned_failures = UnownedFailureSerializer(many=True)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # a keyword in Python, a key in the answer
        return fields
