"""Ingestion endpoints: the generic event format and the senders' own formats (Zuul,
Alertmanager, Grafana Alerting, GitHub).

Each parses one delivery with its module in ``escalation.ingest`` and lets
``IngestView`` store the reports and answer 202.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation.ingest import BadPayload, Report, alertmanager, generic, github, grafana, zuul
from escalation.models import Incident
from escalation.serializers import IngestResultSerializer
from escalation.services import ingestion, replays
from oncall.api import parsers
from oncall.api.errors import ApiError
from oncall.api.parsers import JSONParser
from oncall.api.throttling import IngestRate
from oncall.models import Scope


class IngestView(APIView):
    """Parse a delivery into reports, store them all, then answer 202."""

    required_scopes = {"POST": Scope.INGEST}
    throttle_classes = [IngestRate]

    def parse(self, request: Request) -> list[Report]:
        raise NotImplementedError

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: IngestResultSerializer},
        description="The sender's own format, exactly as it publishes it (API.md).",
    )
    def post(self, request: Request) -> Response:
        try:
            reports = self.parse(request)
        except BadPayload as error:
            raise ValidationError(error.fields or {"non_field_errors": [str(error)]}) from error
        accepted = ingestion.accept(reports)
        return Response(accepted.body(), status=status.HTTP_202_ACCEPTED)


class EventsView(IngestView):
    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="EventOrEvents",
            serializers=[generic.EventSerializer, generic.EventSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={202: IngestResultSerializer},
        description="One generic event, or a list of 1 to 500.",
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def parse(self, request: Request) -> list[Report]:
        return generic.parse(request.data, request.headers.get("Idempotency-Key", ""))


class ZuulView(IngestView):
    """A Zuul MQTT reporter message, posted as Zuul publishes it."""

    parser_classes = [JSONParser]

    def parse(self, request: Request) -> list[Report]:
        return zuul.parse_message(request.data)


class AlertmanagerView(IngestView):
    """An Alertmanager webhook (version 4), or Grafana Alerting's (version 1),
    authenticated with an ``ingest`` bearer token."""

    parser_classes = [JSONParser]

    def parse(self, request: Request) -> list[Report]:
        return alertmanager.parse(request.data)


class GrafanaView(IngestView):
    """A Grafana Alerting webhook (version 1), authenticated with an ``ingest`` token."""

    parser_classes = [JSONParser]

    def parse(self, request: Request) -> list[Report]:
        return grafana.parse(request.data)


class GithubSignature(permissions.BasePermission):
    """Anyone may post a delivery that carries a valid ``X-Hub-Signature-256``.

    Answers 401 itself: without authentication classes DRF would turn a refusal into 403.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        secret = settings.GITHUB_WEBHOOK_SECRET
        if not secret:
            raise ApiError(
                401,
                "not_authenticated",
                "GitHub deliveries are refused: GITHUB_WEBHOOK_SECRET is not set.",
            )
        if not github.verify(secret, request.body, request.headers.get("X-Hub-Signature-256")):
            raise ApiError(
                401, "not_authenticated", "Missing or invalid X-Hub-Signature-256 signature."
            )
        return True


class GithubView(IngestView):
    """GitHub ``workflow_run`` and ``check_run`` deliveries, verified by their signature."""

    authentication_classes: list[Any] = []
    permission_classes = [GithubSignature]
    ignored = 0
    replayed: list[Incident] = []

    def parse(self, request: Request) -> list[Report]:
        try:
            body = github.decode(request.body, request.content_type or "")
        except parsers.UnsafeJSON as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except ValueError as error:
            raise ParseError(f"The delivery is not valid JSON: {error}") from error
        delivery = github.parse(request.headers.get("X-GitHub-Event", ""), body)
        screened = replays.screen(delivery.reports)
        self.ignored = delivery.ignored + screened.stale
        self.replayed = screened.seen
        return screened.fresh

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: IngestResultSerializer},
        description="A GitHub delivery, verified by X-Hub-Signature-256 (no API token).",
    )
    def post(self, request: Request) -> Response:
        response = super().post(request)
        assert response.data is not None  # noqa: S101 - IngestView always answers a body
        response.data["ignored"] += self.ignored
        response.data["incidents"] += ingestion.Accepted(
            [ingestion.Outcome(incident, created=False) for incident in self.replayed]
        ).body()["incidents"]
        return response
