"""The admin edits rotations through the services: edits become versions, deletes mark."""

from datetime import UTC, datetime, time

import pytest
import time_machine

from rotations import services
from rotations.models import Person, Rotation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.org", "pw"))
    for handle in ("alice", "bob", "carol"):
        Person.objects.create(handle=handle, name=handle.title())
    with time_machine.travel(NOW, tick=False):
        yield client


def form(**changes):
    data = {
        "slug": "core",
        "name": "Core",
        "team": "",
        "members": "alice, bob",
        "shift_days": "14",
        "handoff_time": "09:00",
        "timezone": "Europe/Berlin",
        "effective_from": "2026-11-02",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_admin_creates_a_rotation_and_edits_become_versions(staff):
    response = staff.post("/admin/rotations/rotation/add/", form())
    assert response.status_code == 302, response.content.decode()[:2000]
    rotation = Rotation.objects.get(slug="core")
    assert rotation.versions.count() == 1
    change = f"/admin/rotations/rotation/{rotation.pk}/change/"
    page = staff.get(change)
    assert page.status_code == 200
    assert b"Next shifts" in page.content
    edited = form(
        members="alice, bob, carol",
        effective_from="2026-11-30",
        **{
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-0-id": str(rotation.versions.get().pk),
            "versions-0-rotation": str(rotation.pk),
        },
    )
    assert staff.post(change, edited).status_code == 302
    assert [v.effective_from.isoformat() for v in rotation.versions.all()] == [
        "2026-11-02",
        "2026-11-30",
    ]


def test_admin_pages_answer(staff):
    alice = Person.objects.get(handle="alice")
    rotation = services.create_rotation(
        slug="core",
        name="Core",
        team=None,
        start=NOW.date(),
        spec=services.ScheduleSpec([alice], 7, time(9), "UTC"),
    )
    services.create_override(rotation=rotation, person=alice, start=NOW, end=NOW.replace(day=27))
    for url in [
        "/admin/rotations/rotation/",
        "/admin/rotations/person/",
        "/admin/rotations/team/",
        "/admin/rotations/override/",
        "/admin/rotations/handoffnotice/",
        "/admin/oncall/apitoken/",
        "/admin/oncall/apitoken/add/",
        "/admin/rotations/rotation/add/",
    ]:
        assert staff.get(url).status_code == 200, url


def test_admin_delete_of_an_override_only_marks_it(staff):
    alice = Person.objects.get(handle="alice")
    rotation = services.create_rotation(
        slug="core",
        name="Core",
        team=None,
        start=NOW.date(),
        spec=services.ScheduleSpec([alice], 7, time(9), "UTC"),
    )
    override = services.create_override(
        rotation=rotation, person=alice, start=NOW, end=NOW.replace(day=27)
    )
    response = staff.post(f"/admin/rotations/override/{override.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    override.refresh_from_db()
    assert override.deleted_at is not None


def test_admin_token_secret_is_shown_once_and_stored_hashed(staff):
    response = staff.post(
        "/admin/oncall/apitoken/add/", {"name": "bot", "scopes": ["read"]}, follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("oc_" in message for message in shown)
    secret = next(w for m in shown for w in m.split() if w.startswith("oc_"))
    from oncall.models import ApiToken, hash_secret

    assert ApiToken.objects.get().digest == hash_secret(secret)
