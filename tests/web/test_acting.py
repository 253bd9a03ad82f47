"""A web login acts only as its own person; staff act for anyone (docs/api.md, "Acting as
someone")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import links
from escalation.models import TimelineEntry
from rotations.models import Override
from tests.web.conftest import failure

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
COVER = {"start": "2026-12-01T09:00", "end": "2026-12-03T09:00", "reason": "x"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_non_staff_login_cannot_make_someone_else_cover(alice_client, world):
    response = alice_client.post("/rotations/core-ops/overrides/", {"person": "bob", **COVER})

    assert response.status_code == 403
    assert "You act as alice only" in response.content.decode()
    assert not Override.objects.exists()


def test_rotation_page_offers_a_non_staff_login_only_itself_to_cover(alice_client, world):
    choices = alice_client.get("/rotations/core-ops/").context["form"].fields["person"].queryset
    assert list(choices) == [world.alice]
    world.user.is_staff = True
    world.user.save()
    choices = alice_client.get("/rotations/core-ops/").context["form"].fields["person"].queryset
    assert set(choices) == {world.alice, world.bob, world.carol}


def test_staff_login_makes_anyone_cover(alice_client, world):
    world.user.is_staff = True
    world.user.save()

    response = alice_client.post("/rotations/core-ops/overrides/", {"person": "bob", **COVER})

    assert response.status_code == 302
    assert Override.objects.get().person == world.bob


def test_non_staff_login_cannot_delete_someone_elses_override(alice_client, world):
    bobs = Override.objects.create(
        rotation=world.rotation, person=world.bob, start=NOW, end=NOW + timedelta(days=1)
    )
    page = alice_client.get("/rotations/core-ops/").content.decode()
    assert f"/overrides/{bobs.pk}/delete/" not in page

    response = alice_client.post(f"/rotations/core-ops/overrides/{bobs.pk}/delete/", follow=True)

    assert "Only Bob, a team lead or staff can delete this override" in response.content.decode()
    bobs.refresh_from_db()
    assert bobs.deleted_at is None
    world.user.is_staff = True
    world.user.save()
    page = alice_client.get("/rotations/core-ops/").content.decode()
    assert f"/overrides/{bobs.pk}/delete/" in page
    alice_client.post(f"/rotations/core-ops/overrides/{bobs.pk}/delete/")
    bobs.refresh_from_db()
    assert bobs.deleted_at is not None


def test_email_link_acts_as_its_signed_person_whoever_is_logged_in(alice_client, world):
    """The signature names the person; a session and posted fields cannot change it."""
    incident = failure()
    url = links.action_url(incident, world.bob, "claim").split("://", 1)[1]
    path = "/" + url.split("/", 1)[1]

    response = alice_client.post(path, {"by": "alice", "person": "alice"})

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.claimed_by == world.bob
    entry = TimelineEntry.objects.get(kind="claimed")
    assert (entry.actor, entry.channel) == (world.bob, "email")
