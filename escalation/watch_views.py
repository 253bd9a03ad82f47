"""Watches over REST (``/api/v1/watches/``) and their ping URLs (``/hb/<token>``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import get_resolver
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from escalation.models import EscalationPolicy, Repo, Watch
from escalation.services import watches
from oncall.api.auth import request_scopes
from oncall.api.fields import ModelSerializer
from oncall.models import Scope


def ping_url(secret: str) -> str:
    """The absolute ping URL of ``secret`` under ``ONCALL_BASE_URL`` (as the feeds')."""
    return f"{settings.ONCALL_BASE_URL}/{get_resolver().reverse('watch-ping', token=secret)}"


class WatchMatchField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        problems = watches.match_problems(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value


class WatchSerializer(ModelSerializer):
    match = WatchMatchField()
    repo = serializers.SlugRelatedField(
        slug_field="name", queryset=Repo.objects.all(), allow_null=True, required=False
    )
    policy = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=EscalationPolicy.objects.all(),
        allow_null=True,
        required=False,
    )
    every_seconds = serializers.IntegerField(min_value=1, max_value=366 * 86400)
    grace_seconds = serializers.IntegerField(min_value=0, max_value=366 * 86400, required=False)
    state = serializers.CharField(read_only=True)
    ping_url = serializers.SerializerMethodField()

    class Meta:
        model = Watch
        fields = [
            "slug",
            "name",
            "match",
            "every_seconds",
            "grace_seconds",
            "repo",
            "policy",
            "active",
            "state",
            "last_seen",
            "ping_url",
        ]
        read_only_fields = ["last_seen"]

    def get_ping_url(self, watch: Watch) -> str | None:
        """Admin tokens only: the URL is the secret."""
        request = self.context.get("request")
        if request is None or Scope.ADMIN not in request_scopes(request):
            return None
        secret = watches.current_token(watch)
        return ping_url(secret) if secret else None

    def create(self, validated: dict[str, Any]) -> Watch:
        now = timezone.now()
        watch = Watch(**validated, created_at=now)
        watch.due_at = watches.due_at(watch, now)
        watch.save()
        watches.issue_token(watch)
        return watch

    def update(self, watch: Watch, validated: dict[str, Any]) -> Watch:
        for key, value in validated.items():
            setattr(watch, key, value)
        watch.due_at = watches.due_at(watch, watch.last_seen or watch.created_at)
        watch.save()
        return watch


class WatchViewSet(viewsets.ModelViewSet):
    """Expected reports (docs/watches.md): reads need ``read``, writes ``admin``."""

    queryset = Watch.objects.select_related("repo", "policy")
    serializer_class = WatchSerializer
    lookup_field = "slug"
    required_scopes = {"reset_ping": Scope.ADMIN}

    @extend_schema(
        responses=inline_serializer(
            "WatchSuggestion",
            {
                "slug": serializers.CharField(),
                "name": serializers.CharField(),
                "match": serializers.DictField(),
                "every_seconds": serializers.IntegerField(),
                "grace_seconds": serializers.IntegerField(),
                "repo": serializers.CharField(allow_null=True),
                "reports": serializers.IntegerField(),
                "last_seen": serializers.DateTimeField(),
            },
            many=True,
        )
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def suggestions(self, request: Request) -> Response:
        found = watches.suggestions(timezone.now())
        for row in found:
            row["last_seen"] = serializers.DateTimeField().to_representation(row["last_seen"])
        return Response(found)

    @extend_schema(request=None, responses=WatchSerializer)
    @action(detail=True, methods=["post"], url_path="ping/reset")
    def reset_ping(self, request: Request, slug: str | None = None) -> Response:
        watch = self.get_object()
        watches.issue_token(watch)
        return Response(self.get_serializer(watch).data)


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request: HttpRequest, token: str) -> HttpResponseBase:
    """``/hb/<token>``: a sign of life. No API token: the URL is the secret."""
    watch = watches.by_token(token)
    if watch is None:
        return HttpResponse("unknown ping URL\n", status=404, content_type="text/plain")
    watches.ping(watch, timezone.now())
    return HttpResponse("OK\n", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def ping_fail(request: HttpRequest, token: str) -> HttpResponseBase:
    """``/hb/<token>/fail``: the watched thing failed; opens an incident at once."""
    watch = watches.by_token(token)
    if watch is None:
        return HttpResponse("unknown ping URL\n", status=404, content_type="text/plain")
    if not watch.active:  # paused: noted nowhere, pages nobody
        return HttpResponse("OK watch inactive\n", content_type="text/plain")
    incident = watches.fail(watch, timezone.now())
    return HttpResponse(f"OK incident {incident.pk}\n", content_type="text/plain")
