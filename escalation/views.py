"""REST views of escalation/: ingestion, incidents and their actions, configuration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.fields import DateTimeField
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation import coverage, selectors
from escalation.models import (
    Contact,
    EscalationPolicy,
    Incident,
    Occurrence,
    Repo,
    Route,
    Silence,
    TimelineEntry,
)
from escalation.selectors import RESPONDERS
from escalation.serializers import (
    ActionSerializer,
    AddResponderSerializer,
    ByActionSerializer,
    ContactSerializer,
    CoverageSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    NoteSerializer,
    PolicySerializer,
    ReassignSerializer,
    RepoSerializer,
    RouteSerializer,
    SilenceSerializer,
    TimelineSerializer,
)
from escalation.services import lifecycle
from oncall.api.errors import ApiError
from oncall.models import Scope
from rotations import acting, generation
from rotations import selectors as rotation_selectors
from rotations.acting import acting_person
from rotations.models import Person, Team
from rotations.schedule import OnCall
from rotations.serializers import oncall_body, person_brief

# Incidents -----------------------------------------------------------------------


class IncidentFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=Incident.State.choices)
    repo = filters.CharFilter(field_name="repo")
    muted = filters.BooleanFilter(method="filter_muted")
    team = filters.CharFilter(field_name="repo_ref__team__slug")
    category = filters.CharFilter()
    job = filters.CharFilter()
    owned = filters.BooleanFilter()

    class Meta:
        model = Incident
        fields = ["state", "repo", "muted", "team", "category", "job", "owned"]

    def filter_muted(
        self, queryset: QuerySet[Incident], name: str, value: bool
    ) -> QuerySet[Incident]:
        muted = queryset.filter(muted_until__gt=timezone.now())
        return muted if value else queryset.exclude(pk__in=muted.values("pk"))


def _person(request: Request, reference: str | None) -> Person:
    """The person an action is taken as: ``by`` when the request may name them (see
    rotations.acting), else the request's own person. 400 for an unknown ``by``, 403
    for a ``by`` the request may not act as."""
    named = None
    if reference:
        named = rotation_selectors.person_by_reference(reference)
        if named is None:
            raise ApiError(400, "unknown_person", f"Unknown person {reference!r}.")
    try:
        person = acting.act_as(acting.actor(request), named)
    except acting.ActingDenied as error:
        raise PermissionDenied(str(error)) from error
    if person is None:
        raise ValidationError({"by": ["Required: a handle, e-mail or Matrix ID."]})
    return person


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    filterset_class = IncidentFilter
    required_scopes = {
        action: Scope.ACT
        for action in (
            *("claim", "unclaim", "resolve", "mute", "unmute"),
            *("escalate", "reassign", "responders", "notes"),
        )
    }

    def get_queryset(self) -> QuerySet[Incident]:
        query = Incident.objects.select_related("claimed_by", "resolved_by", "repo_ref")
        query = query.prefetch_related("forwarded_to", Prefetch("responders", RESPONDERS))
        if self.action != "list":
            query = query.prefetch_related(
                Prefetch("timeline", TimelineEntry.objects.select_related("actor")),
                Prefetch(
                    "history",
                    Occurrence.objects.order_by("-received_at", "-pk").only(
                        "incident_id", "received_at", "occurred_at"
                    ),
                ),
            )
        return query

    def get_serializer_class(self) -> Any:
        return IncidentSerializer if self.action == "list" else IncidentDetailSerializer

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        instances = args[0] if args else None
        if instances is not None:
            items = instances if isinstance(instances, list | QuerySet) else [instances]
            now = timezone.now()
            kwargs["context"] = {
                **self.get_serializer_context(),
                "now": now,
                "responsible": selectors.responsible(
                    {i.repo_ref for i in items if i.repo_ref}, now
                ),
            }
        return super().get_serializer(*args, **kwargs)

    def _act(self, request: Request, action: lifecycle.Action) -> Response:
        body = ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        until = _mute_end(data) if action == lifecycle.Action.MUTE else None
        incident = self.get_object()
        person = _person(request, data.get("by"))
        channel = "api" if request.auth is not None else "web"
        try:
            lifecycle.perform(
                incident, action, by=person, channel=channel, until=until, note=data["note"]
            )
        except lifecycle.InvalidMute as error:
            raise ValidationError({"until": [str(error)]}) from error
        except lifecycle.InvalidState as error:
            raise ApiError(409, "invalid_state", str(error)) from error
        return Response(self.get_serializer(self.get_queryset().get(pk=incident.pk)).data)

    @extend_schema(request=ActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        return self._act(request, lifecycle.Action.CLAIM)

    @extend_schema(request=ActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def unclaim(self, request: Request, pk: str) -> Response:
        return self._act(request, lifecycle.Action.UNCLAIM)

    @extend_schema(request=ActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        return self._act(request, lifecycle.Action.RESOLVE)

    @extend_schema(request=ActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def mute(self, request: Request, pk: str) -> Response:
        return self._act(request, lifecycle.Action.MUTE)

    @extend_schema(request=ActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def unmute(self, request: Request, pk: str) -> Response:
        return self._act(request, lifecycle.Action.UNMUTE)

    def _more(
        self, request: Request, action: lifecycle.Action, body: Any
    ) -> tuple[Incident, Person, str]:
        """Escalate, reassign, add a responder or a note as the request's person; the
        incident, that person and the channel ("api", or "web" for a session)."""
        body.is_valid(raise_exception=True)
        data = body.validated_data
        incident = self.get_object()
        person = _person(request, data.get("by"))
        to: Person | Team | None = None
        if "to" in data:
            to = rotation_selectors.person_by_reference(data["to"])
            if to is None:
                raise ValidationError({"to": [f"Unknown person {data['to']!r}."]})
        if "add" in data:
            to = selectors.person_or_team(data["add"])
            if to is None:
                raise ValidationError({"add": [f"No person or team {data['add']!r}."]})
        channel = "api" if request.auth is not None else "web"
        try:
            lifecycle.perform(
                incident, action, by=person, channel=channel, to=to, note=data.get("text", "")
            )
        except lifecycle.InvalidTarget as error:
            raise ValidationError({TARGET_FIELD[action]: [str(error)]}) from error
        except lifecycle.InvalidState as error:
            raise ApiError(409, "invalid_state", str(error)) from error
        return incident, person, channel

    def _answer(self, incident_pk: str) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=incident_pk)).data)

    @extend_schema(request=ByActionSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: str) -> Response:
        """Page the policy's next step now (docs/incidents.md, "Actions")."""
        self._more(request, lifecycle.Action.ESCALATE, ByActionSerializer(data=request.data))
        return self._answer(pk)

    @extend_schema(request=ReassignSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str) -> Response:
        """Claim it for ``to`` and page them at once."""
        self._more(request, lifecycle.Action.REASSIGN, ReassignSerializer(data=request.data))
        return self._answer(pk)

    @extend_schema(request=AddResponderSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def responders(self, request: Request, pk: str) -> Response:
        """Page a person or team at once and list them as responders; the claim stays."""
        body = AddResponderSerializer(data=request.data)
        self._more(request, lifecycle.Action.ADD_RESPONDER, body)
        return self._answer(pk)

    @extend_schema(request=NoteSerializer, responses={201: TimelineSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> Response:
        """Free text on the timeline: 201 with the entry (kind ``note``)."""
        body = NoteSerializer(data=request.data)
        incident, person, channel = self._more(request, lifecycle.Action.NOTE, body)
        # The entry this request wrote: the newest note of this person through this
        # channel (one person's notes on one incident are serial in practice).
        entry = incident.timeline.filter(
            kind=TimelineEntry.Kind.NOTE, actor=person, channel=channel
        ).latest("pk")
        return Response(TimelineSerializer(entry).data, status=201)


#: The body field an ``InvalidTarget`` of each action is about.
TARGET_FIELD = {
    lifecycle.Action.REASSIGN: "to",
    lifecycle.Action.ADD_RESPONDER: "add",
    lifecycle.Action.NOTE: "text",
}


def _mute_end(data: dict[str, Any]) -> Any:
    """The API's mute end: ``until`` as given, or ``minutes`` from now."""
    if "until" in data:
        return data["until"]
    if "minutes" in data:
        return timezone.now() + timedelta(minutes=data["minutes"])
    raise ValidationError({"minutes": ["Give minutes or until."]})


# Configuration -------------------------------------------------------------------


class ContactViewSet(viewsets.ModelViewSet):
    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    lookup_field = "slug"


class PolicyViewSet(viewsets.ModelViewSet):
    queryset = EscalationPolicy.objects.all()
    serializer_class = PolicySerializer
    lookup_field = "slug"


class RepoViewSet(viewsets.ModelViewSet):
    queryset = Repo.objects.select_related("team", "rotation", "backup_rotation", "policy")
    serializer_class = RepoSerializer
    lookup_field = "name"
    lookup_value_regex = ".+"  # names contain a slash: /repos/Org%2Frepo/
    filterset_fields = ["team__slug"]


class RouteViewSet(viewsets.ModelViewSet):
    queryset = Route.objects.select_related("repo", "policy").prefetch_related("forward_to")
    serializer_class = RouteSerializer


class SilenceViewSet(viewsets.ModelViewSet):
    queryset = Silence.objects.select_related("created_by")
    serializer_class = SilenceSerializer

    def perform_create(self, serializer: Any) -> None:
        creator = serializer.validated_data.get("created_by") or acting_person(self.request)
        serializer.save(created_by=creator)


class CoverageView(APIView):
    """``GET /api/v1/coverage/?days=28``: what nobody covers (see escalation.coverage)."""

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="1 to 366, default 28.")],
        responses={200: CoverageSerializer},
    )
    def get(self, request: Request) -> Response:
        try:
            days = int(request.query_params.get("days", 28))
        except ValueError:
            days = 0
        if not 1 <= days <= 366:
            raise ValidationError({"days": ["A whole number of days from 1 to 366."]})
        body = coverage.report(timezone.now(), days)
        body["rotations_with_gaps"] = [
            {**r, "gaps": [{k: _time(v) for k, v in g.items()} for g in r["gaps"]]}
            for r in body["rotations_with_gaps"]
        ]
        body["unowned_failures"] = [
            {**u, "last_seen": _time(u["last_seen"])} for u in body["unowned_failures"]
        ]
        return Response({**body, "from": _time(body["from"]), "to": _time(body["to"])})


def _time(value: Any) -> Any:
    return DateTimeField().to_representation(value)


# Who is on call for a repo (plugs into /api/v1/oncall/) ------------------------------


def repo_oncall(name: str, at: Any) -> dict[str, Any]:
    """The on-call answer of the repo's rotation, plus ``repo`` and ``backup_rotation``."""
    repos = Repo.objects.select_related("rotation", "backup_rotation").filter(name=name)
    # The schedule generation comes with the repo: one query when the schedules are cached.
    repo = repos.annotate(stamp=generation.stamp_subquery()).first()
    if repo is None:
        raise NotFound(f"No repo {name!r}.")
    ids = [i for i in (repo.rotation_id, repo.backup_rotation_id) if i]
    answers = selectors.oncall_by_rotation(ids, at, repo.stamp)
    nobody = OnCall(None, None, None)
    body = oncall_body(at, repo.rotation, answers.get(repo.rotation_id or 0, nobody))
    backup = repo.backup_rotation
    body["repo"] = repo.name
    body["backup_rotation"] = backup.slug if backup else None
    body["backup_rotation_primary"] = (
        person_brief(answers.get(backup.pk, nobody).primary) if backup else None
    )
    return body
