"""REST views of rotations/: thin, they parse, call a service or selector, and render."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oncall.api.auth import request_scopes
from oncall.api.errors import ApiError
from oncall.api.params import InstantFilter, time_param
from oncall.models import Scope
from rotations import feeds, selectors, services
from rotations.acting import acting_person
from rotations.models import Override, Person, Rotation, Team
from rotations.serializers import (
    FeedUrlsSerializer,
    OnCallSerializer,
    OverrideSerializer,
    PersonSerializer,
    RotationSerializer,
    ShiftSerializer,
    TeamSerializer,
    oncall_body,
)

MAX_WINDOW = timedelta(days=731)


def readable_feeds(request: Request, objs: list[Any]) -> dict[int, dict[str, str]]:
    """The feed URLs of ``objs`` (one model) this request may read, by primary key:
    every feed for the admin scope (staff sessions included), else the request's own
    person's feed (docs/api.md, "Feed links in representations")."""
    if Scope.ADMIN in request_scopes(request):
        readable = objs
    elif objs and isinstance(objs[0], Person):
        own = acting_person(request)
        readable = [obj for obj in objs if own is not None and obj.pk == own.pk]
    else:
        readable = []
    feeds.ensure_tokens(readable)
    found = {obj.pk: feeds.current_token(obj) for obj in readable}
    return {pk: feeds.feed_urls(token) for pk, token in found.items() if token}


class FeedResetMixin:
    """``POST …/{id}/ical/reset/``: a new feed token; the old one stops working. Reads
    show ``ical_url``/``webcal_url`` to readers with access (``readable_feeds``)."""

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        instance = args[0] if args else kwargs.get("instance")
        if instance is not None:
            objs = list(instance) if isinstance(instance, list | QuerySet) else [instance]
            kwargs["context"] = {
                **self.get_serializer_context(),  # type: ignore[attr-defined]
                "feed_urls": readable_feeds(self.request, objs),  # type: ignore[attr-defined]
            }
        return super().get_serializer(*args, **kwargs)  # type: ignore[misc]

    @extend_schema(request=None, responses={200: FeedUrlsSerializer})
    @action(detail=True, methods=["post"], url_path="ical/reset")
    def ical_reset(self, request: Request, **kwargs: Any) -> Response:
        obj = self.get_object()  # type: ignore[attr-defined]
        own = isinstance(obj, Person) and acting_person(request) == obj
        if Scope.ADMIN not in request_scopes(request) and not own:
            raise PermissionDenied("Needs the 'admin' scope, or a token of this person.")
        return Response(feeds.feed_urls(feeds.issue_token(obj)))

    def perform_create(self, serializer: Any) -> None:
        obj = serializer.save()
        serializer.context["feed_urls"] = {obj.pk: feeds.feed_urls(feeds.issue_token(obj))}


class RotationFilter(filters.FilterSet):
    team = filters.CharFilter(field_name="team__slug")

    class Meta:
        model = Rotation
        fields = ["team"]


class OverrideFilter(filters.FilterSet):
    rotation = filters.CharFilter(field_name="rotation__slug")
    person = filters.CharFilter(field_name="person__handle")
    active_at = InstantFilter(method="filter_active_at")
    ends_after = InstantFilter(field_name="end", lookup_expr="gt")

    class Meta:
        model = Override
        fields = ["rotation", "person"]

    def filter_active_at(
        self, queryset: QuerySet[Override], name: str, value: Any
    ) -> QuerySet[Override]:
        return queryset.filter(start__lte=value, end__gt=value)


class PersonViewSet(FeedResetMixin, viewsets.ModelViewSet):
    queryset = Person.objects.all()
    serializer_class = PersonSerializer
    lookup_field = "handle"
    filterset_fields = ["active"]
    required_scopes = {"ical_reset": Scope.READ}


class TeamViewSet(FeedResetMixin, viewsets.ModelViewSet):
    queryset = Team.objects.prefetch_related("members", "leads")
    serializer_class = TeamSerializer
    lookup_field = "slug"


class RotationViewSet(FeedResetMixin, viewsets.ModelViewSet):
    serializer_class = RotationSerializer
    lookup_field = "slug"
    filterset_class = RotationFilter

    def get_queryset(self) -> QuerySet[Rotation]:
        return Rotation.objects.select_related("team").prefetch_related(
            selectors.versions_prefetch()
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Default: now."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Default: from + 28 days."),
        ],
        responses=ShiftSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # a plain list, not a page
    def shifts(self, request: Request, slug: str) -> Response:
        """The final schedule (overrides applied) overlapping [from, to), whole shifts."""
        start = time_param(request, "from")
        end = time_param(request, "to", start + timedelta(days=28))
        if end <= start:
            raise ValidationError({"to": ["Must be after 'from'."]})
        if end - start > MAX_WINDOW:
            raise ValidationError({"to": ["The window may span at most 2 years."]})
        loaded = selectors.load(Rotation.objects.filter(slug=slug), (start, end))
        if not loaded:
            raise NotFound()
        shifts = [s for s in loaded[0].shifts(start, end) if s.person is not None]
        return Response(ShiftSerializer(shifts, many=True).data)


class OverrideViewSet(viewsets.ModelViewSet):
    serializer_class = OverrideSerializer
    filterset_class = OverrideFilter
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Override]:
        return (
            Override.objects.filter(deleted_at__isnull=True)
            .select_related("rotation", "person", "backup")
            .order_by("start", "pk")
        )

    def perform_destroy(self, instance: Override) -> None:
        swap = services.live_swap_of(instance)
        if swap is not None:
            raise ApiError(
                409,
                "conflict",
                f"This override is swap #{swap.pk}: cancel the swap "
                f"(POST /api/v1/swaps/{swap.pk}/cancel/), so both people hear of it.",
            )
        services.delete_override(instance)


def rotation_oncall(slug: str, at: Any) -> dict[str, Any]:
    """``/api/v1/oncall/?rotation=SLUG``: who is on call in that rotation at ``at``."""
    query = Rotation.objects.filter(slug=slug)
    loaded = selectors.load(query, (at, at + timedelta(microseconds=1)))
    if not loaded:
        raise NotFound(f"No rotation {slug!r}.")
    return oncall_body(at, loaded[0].rotation, loaded[0].oncall(at))


class OnCallView(APIView):
    """``GET /api/v1/oncall/?rotation=SLUG&at=TIME`` (or another registered selector)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("rotation", str, description="A rotation's slug."),
            OpenApiParameter("repo", str, description="A repo's name (instead of rotation)."),
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Default: now."),
        ],
        responses={200: OnCallSerializer},
    )
    def get(self, request: Request) -> Response:
        at = time_param(request, "at")
        resolvers = selectors.ONCALL_RESOLVERS
        given = [name for name in resolvers if request.query_params.get(name)]
        if len(given) != 1:
            raise ValidationError(
                {"rotation": [f"Give exactly one of: {', '.join(sorted(resolvers))}."]}
            )
        name = given[0]
        return Response(
            resolvers[name](request.query_params[name], at),
            status=status.HTTP_200_OK,
        )
