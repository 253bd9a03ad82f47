"""The admin edits rotations through the services: edits become versions, deletes mark."""

from datetime import UTC, datetime, time

import pytest
import time_machine

from rotations import services
from rotations.models import Person, Rotation, Team

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


# Lists: who is on call, constant queries; people and their teams.


def test_rotation_list_shows_who_is_on_call_in_constant_queries(
    admin_client, django_assert_max_num_queries
):
    with time_machine.travel(NOW, tick=False):
        for size in (5, 200):
            while Rotation.objects.count() < size:
                n = Rotation.objects.count()
                first = Person.objects.create(handle=f"a{n}", name=f"A {n}")
                second = Person.objects.create(handle=f"b{n}", name=f"B {n}")
                rotation = services.create_rotation(
                    slug=f"r{n:03}",
                    name=f"R {n}",
                    team=Team.objects.create(slug=f"t{n}", name=f"T {n}"),
                    start=NOW.date(),
                    spec=services.ScheduleSpec([first, second], 7, time(9), "UTC"),
                )
                if n % 2:
                    services.create_override(
                        rotation=rotation, person=second, start=NOW, end=NOW.replace(day=27)
                    )
            with django_assert_max_num_queries(9):
                response = admin_client.get("/admin/rotations/rotation/")
            rows = response.context["cl"].result_list
            assert len(rows) == min(size, 100)
            # r000 started today at 09:00 with a0 on call, b0 the backup; r001 has b1 covering.
            assert (rows[0].oncall_now.primary.handle, rows[0].oncall_now.backup.handle) == (
                "a0",
                "b0",
            )
            assert rows[1].oncall_now.primary.handle == "b1"
            assert b"A 0" in response.content and b"a0, b0" in response.content


def test_people_list_shows_teams_and_logins_in_constant_queries(
    admin_client, django_user_model, django_assert_max_num_queries
):
    ops = Team.objects.create(slug="ops", name="Ops")
    for size in (5, 200):
        while Person.objects.count() < size:
            n = Person.objects.count()
            user = django_user_model.objects.create_user(f"u{n}")
            person = Person.objects.create(handle=f"p{n:03}", name=f"P {n}", user=user)
            person.teams.add(ops, Team.objects.create(slug=f"t{n}", name=f"T {n}"))
        with django_assert_max_num_queries(8):
            response = admin_client.get("/admin/rotations/person/")
        rows = response.context["cl"].result_list
        assert len(rows) == min(size, 100)
        assert b"ops, t0" in response.content and b">u0</a>" in response.content


def test_people_filter_by_active_and_timezone(admin_client):
    Person.objects.create(handle="ann", name="Ann", timezone="Europe/Berlin")
    Person.objects.create(handle="ben", name="Ben", timezone="UTC", active=False)

    def handles(query):
        response = admin_client.get("/admin/rotations/person/" + query)
        return [p.handle for p in response.context["cl"].result_list]

    assert handles("?active__exact=0") == ["ben"]
    assert handles("?timezone=Europe/Berlin") == ["ann"]
    assert handles("?q=Ben") == ["ben"]


def test_team_membership_is_edited_on_the_person_page(admin_client):
    ann = Person.objects.create(handle="ann", name="Ann")
    ops = Team.objects.create(slug="ops", name="Ops")
    response = admin_client.post(
        f"/admin/rotations/person/{ann.pk}/change/",
        {
            "handle": "ann",
            "name": "Ann",
            "timezone": "Europe/Berlin",
            "active": "on",
            "Team_members-TOTAL_FORMS": "1",
            "Team_members-INITIAL_FORMS": "0",
            "Team_members-0-team": str(ops.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(ann.teams.all()) == [ops]


def test_deactivate_action_dates_the_deactivation(admin_client):
    ann = Person.objects.create(handle="ann", name="Ann")
    with time_machine.travel(NOW, tick=False):
        response = admin_client.post(
            "/admin/rotations/person/",
            {"action": "deactivate", "_selected_action": [ann.pk]},
            follow=True,
        )
    assert [str(m) for m in response.context["messages"]] == ["1 deactivated."]
    ann.refresh_from_db()
    assert (ann.active, ann.inactive_since) == (False, NOW)


def test_admin_edit_starting_in_the_past_is_refused_whole(staff):
    assert staff.post("/admin/rotations/rotation/add/", form()).status_code == 302
    rotation = Rotation.objects.get(slug="core")
    version = rotation.versions.get()
    edited = form(
        name="Renamed",
        members="alice, bob, carol",
        effective_from="2026-11-09",
        **{
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-0-id": str(version.pk),
            "versions-0-rotation": str(rotation.pk),
        },
    )
    response = staff.post(f"/admin/rotations/rotation/{rotation.pk}/change/", edited)
    assert response.status_code == 200
    assert "Must not be in the past" in response.content.decode()
    rotation.refresh_from_db()
    assert rotation.name == "Core"
    assert rotation.versions.count() == 1
