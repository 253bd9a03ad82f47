"""Serializer fields shared by the apps' REST serializers.

``ModelSerializer`` maps every model ``CharField`` (names, slugs of rooms, categories…)
to ``SingleLineCharField``: a name is one line. A line break in a person's or
rotation's name broke its ICS feed and a bare CR reached the feed's headers; text
fields (``TextField``: workflows, comments) keep their lines.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from rest_framework import serializers

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` with each run of control characters (line breaks included) as one space."""
    return CONTROL.sub(" ", text)


class SingleLineCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        value = one_line(super().to_internal_value(data))
        value = value.strip() if self.trim_whitespace else value
        if not value and not self.allow_blank:
            self.fail("blank")
        return value


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: SingleLineCharField,
    }
