"""Configuration as code over HTTP (docs/configuration.md): export, plan, apply.

``GET /api/v1/config/`` (``read``) answers the document, as YAML under ``Accept:
application/yaml``; ``POST …/plan/`` and ``…/apply/`` (``admin``) take a YAML or JSON
document and answer the plan. An invalid document is a 400 whose ``fields`` are
keyed by path (``"rotations[2].timezone"``); nothing is applied then.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation.config import apply, document, plan
from escalation.config.kinds import KINDS
from oncall.api.errors import ApiError, error_body
from oncall.api.parsers import JSONParser
from oncall.models import Scope


class YAMLParser(parsers.BaseParser):
    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return document.load(stream.read())
        except document.Unreadable as error:
            raise ApiError(400, "malformed_yaml", str(error)) from None


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class XYAMLParser(YAMLParser):
    media_type = "application/x-yaml"


class YAMLRenderer(BaseRenderer):
    """Lets ``Accept: application/yaml`` through content negotiation."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return document.dump(data).encode() if isinstance(data, dict) else str(data).encode()


def _items(name: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.DictField(), required=False, help_text=f"The {name}, by natural key."
    )


ConfigDocument = type(
    "ConfigDocument",
    (serializers.Serializer,),
    {kind.plural: _items(kind.plural) for kind in KINDS},
)


class ChangeSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=["create", "update", "delete"])
    kind = serializers.ChoiceField(choices=[kind.name for kind in KINDS])
    key = serializers.CharField(help_text="slug, handle or the kind's natural key")
    fields_ = serializers.DictField(
        help_text="create/delete: the item; update: {field: {old, new}}."
    )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["fields"] = fields.pop("fields_")  # ``fields`` is taken by Serializer
        return fields


class PlanSerializer(serializers.Serializer):
    changes = ChangeSerializer(many=True)
    valid = serializers.BooleanField()


class ConfigView(APIView):
    """``GET /api/v1/config/``: the whole configuration, without secrets."""

    renderer_classes = [JSONRenderer, YAMLRenderer]

    @extend_schema(
        responses={
            (200, "application/json"): ConfigDocument,
            (200, "application/yaml"): OpenApiResponse(OpenApiTypes.STR),
        }
    )
    def get(self, request: Request) -> Response | HttpResponse:
        body = document.export()
        if isinstance(request.accepted_renderer, YAMLRenderer):
            return HttpResponse(document.dump(body), content_type="application/yaml; charset=utf-8")
        return Response(body)


PRUNE = OpenApiParameter(
    "prune", bool, description="Delete what the document's kinds leave out (default false)."
)


class _PlanView(APIView):
    parser_classes = [JSONParser, YAMLParser, XYAMLParser, TextYAMLParser]
    required_scopes = {"POST": Scope.ADMIN}
    commit = False

    def post(self, request: Request) -> Response:
        prune = request.query_params.get("prune", "false").lower()
        if prune not in {"true", "false", "1", "0"}:
            return Response(
                error_body("invalid", "prune must be true or false.", {"prune": ["Not a bool."]}),
                status=400,
            )
        try:
            changes = apply.run(request.data, prune=prune in {"true", "1"}, commit=self.commit)
        except plan.Invalid as invalid:
            message = "The document is not valid; nothing was applied."
            return Response(error_body("invalid", message, invalid.errors), status=400)
        return Response({"changes": changes, "valid": True})


SCHEMA = {
    "request": {
        "application/json": ConfigDocument,
        "application/yaml": OpenApiTypes.STR,
    },
    "parameters": [PRUNE],
    "responses": {200: PlanSerializer},
}


class PlanView(_PlanView):
    """``POST /api/v1/config/plan/``: what applying the document would change."""

    @extend_schema(**SCHEMA)  # type: ignore[arg-type]
    def post(self, request: Request) -> Response:
        return super().post(request)


class ApplyView(_PlanView):
    """``POST /api/v1/config/apply/``: apply the document in one transaction."""

    commit = True

    @extend_schema(**SCHEMA)  # type: ignore[arg-type]
    def post(self, request: Request) -> Response:
        return super().post(request)
