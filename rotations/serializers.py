from __future__ import annotations

from rest_framework import serializers

from rotations.models import Person


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Person
        fields = ["handle", "name", "email", "matrix_id", "timezone", "active"]
