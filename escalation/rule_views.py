"""``GET|PUT /api/v1/people/{handle}/rules/``: a person's notification rules.

Only the person themselves (a token bound to them, or their web session) or an admin
reads or changes them: they name the person's private webhook URLs. Validation is
``escalation.rules.parse``'s, with problems keyed by path (``rules[1].channel``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escalation import rules
from escalation.rules import CHANNELS, MAX_DELAY, MAX_RULES
from oncall.api.auth import request_scopes
from oncall.models import Scope
from rotations.acting import acting_person
from rotations.models import Person
from rotations.serializers import HHMMField


class RuleSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=list(CHANNELS))
    delay_seconds = serializers.IntegerField(min_value=0, max_value=MAX_DELAY)
    target = serializers.CharField(
        required=False, allow_blank=True, help_text="The URL of a webhook rule."
    )
    important_only = serializers.BooleanField(required=False, default=False)


class QuietHoursSerializer(serializers.Serializer):
    start = HHMMField()
    end = HHMMField()


class RulesSerializer(serializers.Serializer):
    """For the OpenAPI description; ``rules.parse`` validates."""

    rules = serializers.ListField(child=RuleSerializer(), max_length=MAX_RULES)
    repings = serializers.ListField(
        child=RuleSerializer(),
        required=False,
        allow_null=True,
        max_length=MAX_RULES,
        help_text="For re-pings; null or absent: the same as rules.",
    )
    quiet_hours = QuietHoursSerializer(allow_null=True, required=False)


class PersonRulesView(APIView):
    required_scopes = {"GET": Scope.READ, "PUT": Scope.READ}

    def _person(self, request: Request, handle: str) -> Person:
        person = Person.objects.filter(handle=handle).first()
        if person is None:
            raise NotFound(f"No person {handle!r}.")
        own = acting_person(request)
        if Scope.ADMIN not in request_scopes(request) and (own is None or own.pk != person.pk):
            raise PermissionDenied(
                "Only the person themselves or an admin may see or change these rules."
            )
        return person

    @extend_schema(responses={200: RulesSerializer})
    def get(self, request: Request, handle: str) -> Response:
        """The person's rules; empty ``rules``: the default (e-mail and a mention in the
        incident's Matrix room, at once)."""
        return Response(rules.render(self._person(request, handle)))

    @extend_schema(request=RulesSerializer, responses={200: RulesSerializer})
    def put(self, request: Request, handle: str) -> Response:
        """Replace the person's rules (``{"rules": []}`` restores the default)."""
        person = self._person(request, handle)
        try:
            document = rules.parse(request.data, person)
        except rules.Invalid as error:
            raise ValidationError(error.fields) from error
        rules.save(person, document)
        return Response(rules.render(person))
