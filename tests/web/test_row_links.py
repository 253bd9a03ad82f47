"""The incident rows' buttons post where the URL configuration says (rows build their
links from the incident's page instead of one URL lookup per button)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from escalation.models import Incident
from tests.web.test_queries import add_incidents

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/incidents/", "/incidents/?state=muted", "/me/"])
def test_every_button_of_a_row_posts_to_its_named_url(alice_client, world, path):
    add_incidents(world, 12)
    page = alice_client.get(path).content.decode()
    targets = set(re.findall(r'(?:formaction|action)="(/incidents/[^"]*)"', page))
    assert targets
    expected = {
        reverse(f"web-{name}", args=[pk])
        for pk in Incident.objects.values_list("pk", flat=True)
        for name in ("claim", "unclaim", "resolve", "mute", "unmute")
    }
    assert targets <= expected
    assert "resolve" in {t.rsplit("/", 2)[1] for t in targets}
