"""``/api/v1/swaps/``: asking for cover, taking, approving, cancelling (docs/api.md).

Thin: parse, resolve whom the request acts as (``rotations.acting``), call one
service of ``rotations.swap_services``, render."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from oncall.api.errors import ApiError
from oncall.models import Scope
from rotations import acting, selectors, swap_services
from rotations.models import Person, Rotation, Swap
from rotations.serializers import PersonBriefField

BY_HELP = "handle, e-mail or Matrix ID; a person's token or a web session may omit it"


class SwapSerializer(serializers.ModelSerializer):
    rotation: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    requester = PersonBriefField()
    taken_by = PersonBriefField(allow_null=True)
    offered_to = PersonBriefField(allow_null=True)
    approved_by = PersonBriefField(allow_null=True)
    cancelled_by = PersonBriefField(allow_null=True)

    class Meta:
        model = Swap
        fields = [
            "id",
            "rotation",
            "kind",
            "requester",
            "start",
            "end",
            "state",
            "taken_by",
            "offered_to",
            "note",
            "override",
            "created_at",
            "taken_at",
            "approved_by",
            "approved_at",
            "cancelled_by",
            "cancelled_at",
        ]
        read_only_fields = fields


class SwapRequestSerializer(serializers.Serializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    by = serializers.CharField(required=False, allow_blank=True, help_text=BY_HELP)
    requester = serializers.CharField(
        required=False, allow_blank=True, help_text="The same as ``by``: who asks for cover."
    )


class CoverSerializer(serializers.Serializer):
    rotation = serializers.SlugRelatedField(slug_field="slug", queryset=Rotation.objects.all())
    person = serializers.CharField(
        required=False, allow_blank=True, help_text="Who covers; default: the one acting."
    )
    start = serializers.DateTimeField(required=False, help_text="Default: now.")
    end = serializers.DateTimeField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    by = serializers.CharField(required=False, allow_blank=True, help_text=BY_HELP)


class SwapActionSerializer(serializers.Serializer):
    by = serializers.CharField(required=False, allow_blank=True, help_text=BY_HELP)


class SwapFilter(filters.FilterSet):
    rotation = filters.CharFilter(field_name="rotation__slug")
    state = filters.ChoiceFilter(choices=Swap.State.choices)
    person = filters.CharFilter(method="filter_person", help_text="requester or taker")

    class Meta:
        model = Swap
        fields = ["rotation", "state"]

    def filter_person(self, queryset: QuerySet[Swap], name: str, value: str) -> QuerySet[Swap]:
        return queryset.filter(Q(requester__handle=value) | Q(taken_by__handle=value))


def _named(reference: str | None) -> Person | None:
    if not reference:
        return None
    person = selectors.person_by_reference(reference)
    if person is None:
        raise ApiError(400, "unknown_person", f"Unknown person {reference!r}.")
    return person


def acting_as(request: Request, reference: str | None) -> Person:
    """The person the request acts as (docs/api.md, "Acting as someone")."""
    try:
        person = acting.act_as(acting.actor(request), _named(reference))
    except acting.ActingDenied as error:
        raise PermissionDenied(str(error)) from error
    if person is None:
        raise ApiError(400, "invalid", "Give 'by': a handle, e-mail or Matrix ID.")
    return person


def _run(call: Any, *args: Any, **kwargs: Any) -> Swap:
    try:
        return call(*args, **kwargs)
    except swap_services.SwapError as error:
        raise ApiError(error.status, error.code, error.message) from error


class SwapViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SwapSerializer
    filterset_class = SwapFilter
    required_scopes = {name: Scope.ACT for name in ("create", "cover", "take", "cancel", "approve")}

    def get_queryset(self) -> QuerySet[Swap]:
        return Swap.objects.select_related(
            "rotation", "requester", "taken_by", "offered_to", "approved_by", "cancelled_by"
        ).order_by("-created_at", "-pk")

    def _answer(self, swap: Swap, code: int = status.HTTP_200_OK) -> Response:
        return Response(SwapSerializer(self.get_queryset().get(pk=swap.pk)).data, status=code)

    @extend_schema(request=SwapRequestSerializer, responses={201: SwapSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Ask for cover of [start, end) of the requester's own shifts."""
        body = SwapRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        by, requester = data.get("by") or "", data.get("requester") or ""
        if by and requester and _named(by) != _named(requester):
            raise ApiError(400, "invalid", "'by' and 'requester' name different people.")
        person = acting_as(request, requester or by)
        swap = _run(
            swap_services.request,
            rotation=data["rotation"],
            requester=person,
            start=data["start"],
            end=data["end"],
            note=data["note"],
        )
        return self._answer(swap, status.HTTP_201_CREATED)

    @extend_schema(request=CoverSerializer, responses={201: SwapSerializer})
    @action(detail=False, methods=["post"])
    def cover(self, request: Request) -> Response:
        """``person`` covers the rotation over [start, end): at once when the one acting is
        that person or a team lead, else an open swap offered to ``person``."""
        from django.utils import timezone

        body = CoverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        by = acting_as(request, data.get("by"))
        person = _named(data.get("person")) or by
        swap = _run(
            swap_services.cover,
            rotation=data["rotation"],
            person=person,
            start=data.get("start") or timezone.now(),
            end=data["end"],
            by=by,
            note=data["note"],
        )
        return self._answer(swap, status.HTTP_201_CREATED)

    def _act(self, request: Request, call: Any) -> Response:
        body = SwapActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        swap = self.get_object()
        return self._answer(_run(call, swap, by=acting_as(request, body.validated_data.get("by"))))

    @extend_schema(request=SwapActionSerializer, responses=SwapSerializer)
    @action(detail=True, methods=["post"])
    def take(self, request: Request, pk: str) -> Response:
        return self._act(request, swap_services.take)

    @extend_schema(request=SwapActionSerializer, responses=SwapSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._act(request, swap_services.approve)

    @extend_schema(request=SwapActionSerializer, responses=SwapSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return self._act(request, swap_services.cancel)
