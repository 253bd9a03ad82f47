"""``GET /api/v1/reports/``: the weekly on-call report as JSON, or CSV (docs/reports.md)."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation import reports
from rotations.models import Team


class CsvRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` through content negotiation; the view writes the body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, str):
            return data.encode()
        # Errors (400, 401 …) under Accept: text/csv: their JSON body, still readable.
        return JSONRenderer().render(data)


class WeekSerializer(serializers.Serializer):
    week = serializers.CharField(help_text="ISO week, e.g. 2026-W48.")
    incidents = serializers.IntegerField()
    mtta_seconds = serializers.FloatField(allow_null=True)
    mttr_seconds = serializers.FloatField(allow_null=True)
    claimed_within_15m = serializers.FloatField(allow_null=True, help_text="Share, 0 to 1.")
    pages_out_of_hours = serializers.IntegerField()


class RepoWeekSerializer(WeekSerializer):
    week = None  # type: ignore[assignment]
    repo = serializers.CharField()


class JobCountSerializer(serializers.Serializer):
    repo = serializers.CharField()
    job = serializers.CharField()
    incidents = serializers.IntegerField(required=False)
    recoveries = serializers.IntegerField(required=False)


class ReportSerializer(serializers.Serializer):
    team = serializers.CharField(allow_null=True)
    to = serializers.DateField()
    weeks = WeekSerializer(many=True)
    repos = RepoWeekSerializer(many=True)
    noisiest = JobCountSerializer(many=True)
    flakiest = JobCountSerializer(many=True)

    def get_fields(self) -> dict[str, Any]:
        # "from" is a Python keyword, so it cannot be a class attribute; the first field.
        return {"from": serializers.DateField(), **super().get_fields()}


def report_for(params: Any) -> dict[str, Any]:
    """The report the query asks for; ``reports.BadRange`` or ``Team.DoesNotExist``."""
    first, last = reports.default_range(timezone.now().astimezone(UTC).date())
    start = reports.parse_day("from", params.get("from"), first)
    end = reports.parse_day("to", params.get("to"), last)
    reports.check_range(start, end)
    slug = params.get("team") or ""
    team = Team.objects.get(slug=slug) if slug else None
    return reports.build(team, start, end)


class ReportView(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("team", str, description="Team slug; all teams when absent."),
            OpenApiParameter("from", OpenApiTypes.DATE, description="Default: 11 weeks ago."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Default: today (UTC)."),
        ],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row a week."),
        },
    )
    def get(self, request: Request) -> Response | HttpResponse:
        try:
            body = report_for(request.query_params)
        except reports.BadRange as error:
            raise ValidationError({error.field: [str(error)]}) from error
        except Team.DoesNotExist as error:
            raise ValidationError({"team": ["No team with this slug."]}) from error
        if isinstance(request.accepted_renderer, CsvRenderer):
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(reports.csv_rows(body))
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="oncall-report.csv"'
            return response
        return Response(ReportSerializer(body).data)
