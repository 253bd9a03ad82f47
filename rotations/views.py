from __future__ import annotations

from rest_framework import viewsets

from rotations.models import Person
from rotations.serializers import PersonSerializer


class PersonViewSet(viewsets.ModelViewSet):
    queryset = Person.objects.all()
    serializer_class = PersonSerializer
    lookup_field = "handle"
    filterset_fields = ["active"]
