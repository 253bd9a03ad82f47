"""``POST /api/v1/events/``: the generic event of docs/api.md (one object, or a list of them)."""

from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from rest_framework import serializers

from escalation.ingest import BadPayload, Report, clean

WEB_URL = URLValidator(schemes=["http", "https"])


def _url() -> serializers.URLField:
    return serializers.URLField(
        max_length=clean.URL, required=False, allow_blank=True, default="", validators=[WEB_URL]
    )


class EventSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=clean.SOURCE)  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=["failure", "success"])
    repo = serializers.CharField(max_length=255)
    job = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    pipeline = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    result = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    summary = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Cut to {clean.SUMMARY} characters when longer.",
    )
    url = _url()
    log_url = _url()
    dedup_key = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    labels = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    event_id = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The sender's id of this event: a retry with the same id counts once.",
    )
    voting = serializers.BooleanField(required=False, default=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["status"] == "failure" and not data["summary"].strip():
            raise serializers.ValidationError({"summary": ["Required for a failure."]})
        return data


def parse(body: Any, idempotency_key: str = "") -> list[Report]:
    clean.no_nul(body)
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > 500:
        raise BadPayload("Send one event, or a list of 1 to 500 events.")
    serializer = EventSerializer(data=items, many=True)
    if not serializer.is_valid():
        fields = _item_errors(serializer.errors, single=len(items) == 1)
        raise BadPayload("The event is not valid.", fields)
    reports = []
    for i, data in enumerate(serializer.validated_data):
        event_id = data.pop("event_id") or (f"{idempotency_key}:{i}" if idempotency_key else "")
        event_id = clean.key(event_id, limit=clean.DELIVERY_KEY) if event_id else ""
        sent = data.pop("category")
        data["summary"] = clean.summary(data["summary"])
        reports.append(
            Report(
                **data,
                category=sent or "job",
                category_reason=f"sent as {sent}" if sent else "",
                delivery_key=event_id,
                payload=items[i],
            )
        )
    return reports


def _item_errors(errors: Any, single: bool) -> dict[str, list[str]]:
    """Problems by field (``2.repo`` in a batch); an item that is not an object at all
    (``null``, a number) is named by its index, or ``non_field_errors`` when alone."""
    fields: dict[str, list[str]] = {}
    # DRF gives {index: problems} (or a list by index) and str keys for the list itself.
    for i, item in errors.items() if isinstance(errors, dict) else enumerate(errors):
        if isinstance(i, str):
            fields[i] = [str(p) for p in item]
            continue
        prefix = "" if single else f"{i}."
        if isinstance(item, dict):
            fields.update({f"{prefix}{name}": problems for name, problems in item.items()})
        elif item:
            fields["non_field_errors" if single else str(i)] = [str(p) for p in item]
    return fields
