"""Active windows through the REST API: written like the other schedule fields (a new
version from ``effective_from``), validated with field paths, honoured by the on-call
answer and the shifts list at the same query cost."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rotations.models import Person, Rotation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday, 13:00 in Berlin
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people():
    return [Person.objects.create(handle=h, name=h.title()) for h in ("alice", "bob", "carol")]


def body(**changes):
    found = {
        "slug": "core-ops",
        "name": "Core ops",
        "members": ["alice", "bob", "carol"],
        "shift_days": 7,
        "handoff_time": "09:00",
        "timezone": "Europe/Berlin",
        "start": "2026-11-02",
        "active_windows": WEEKDAYS,
    }
    found.update(changes)
    return found


@pytest.fixture
def rotation(admin_api, people):
    response = admin_api.post("/api/v1/rotations/", body(), format="json")
    assert response.status_code == 201, response.json()
    return Rotation.objects.get(slug="core-ops")


def oncall(client, at):
    return client.get(f"/api/v1/oncall/?rotation=core-ops&at={at}").json()


def test_created_windows_are_read_back_on_the_rotation_and_its_version(admin_api, rotation):
    data = admin_api.get("/api/v1/rotations/core-ops/").json()
    assert data["active_windows"] == WEEKDAYS
    assert data["versions"][0]["active_windows"] == WEEKDAYS


def test_a_rotation_without_windows_reads_an_empty_list(admin_api, people):
    response = admin_api.post("/api/v1/rotations/", body(active_windows=[]), format="json")
    assert response.status_code == 201
    assert response.json()["active_windows"] == []
    plain = body(slug="plain")
    del plain["active_windows"]
    assert admin_api.post("/api/v1/rotations/", plain, format="json").json()["active_windows"] == []


def test_oncall_answers_nobody_outside_the_windows(admin_api, rotation):
    inside = oncall(admin_api, "2026-11-26T15:59:00Z")  # Thursday 16:59 Berlin
    assert inside["primary"]["handle"] == "alice"
    assert inside["shift"] == {"start": "2026-11-26T08:00:00Z", "end": "2026-11-26T16:00:00Z"}
    evening = oncall(admin_api, "2026-11-26T16:00:00Z")
    assert (evening["primary"], evening["backup"], evening["shift"]) == (None, None, None)
    assert oncall(admin_api, "2026-11-28T12:00:00Z")["primary"] is None  # Saturday


def test_shifts_list_gives_one_piece_per_window(admin_api, rotation):
    shifts = admin_api.get(
        "/api/v1/rotations/core-ops/shifts/?from=2026-11-27T00:00:00Z&to=2026-12-01T00:00:00Z"
    ).json()
    assert [(s["person"]["handle"], s["start"], s["end"]) for s in shifts] == [
        ("alice", "2026-11-27T08:00:00Z", "2026-11-27T16:00:00Z"),  # Friday
        ("bob", "2026-11-30T08:00:00Z", "2026-11-30T16:00:00Z"),  # Monday, next turn
    ]


def test_changing_windows_starts_a_new_version_and_keeps_past_shifts(admin_api, rotation):
    before = oncall(admin_api, "2026-11-25T20:00:00Z")  # last night: outside the window
    late = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "22:00"}]
    response = admin_api.patch(
        "/api/v1/rotations/core-ops/", {"active_windows": late}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert [v["effective_from"] for v in data["versions"]] == ["2026-11-02", "2026-11-30"]
    assert [v["active_windows"] for v in data["versions"]] == [WEEKDAYS, late]
    assert data["active_windows"] == WEEKDAYS  # the version in force now
    assert oncall(admin_api, "2026-11-25T20:00:00Z") == before
    assert oncall(admin_api, "2026-11-26T20:00:00Z")["primary"] is None  # still this version
    assert oncall(admin_api, "2026-11-30T20:00:00Z")["primary"]["handle"] == "bob"


def test_patching_other_fields_keeps_the_windows(admin_api, rotation):
    response = admin_api.patch("/api/v1/rotations/core-ops/", {"shift_days": 14}, format="json")
    assert [v["active_windows"] for v in response.json()["versions"]] == [WEEKDAYS, WEEKDAYS]


def test_clearing_windows_makes_the_rotation_always_active(admin_api, rotation):
    admin_api.patch(
        "/api/v1/rotations/core-ops/",
        {"active_windows": [], "effective_from": "2026-12-07"},
        format="json",
    )
    assert oncall(admin_api, "2026-12-05T03:00:00Z")["primary"] is None  # Saturday
    assert oncall(admin_api, "2026-12-12T03:00:00Z")["primary"]["handle"] == "carol"


@pytest.mark.parametrize(
    ("windows", "field"),
    [
        ([{"days": ["monday"], "start": "09:00", "end": "17:00"}], "active_windows[0].days"),
        ([{"days": [], "start": "09:00", "end": "17:00"}], "active_windows[0].days"),
        ([{"days": ["mon"], "start": "9am", "end": "17:00"}], "active_windows[0].start"),
        ([{"days": ["mon"], "start": "09:00", "end": 17}], "active_windows[0].end"),
        (
            [*WEEKDAYS, {"days": ["fri"], "start": "16:00", "end": "20:00"}],
            "active_windows[1]",
        ),
        ({"days": ["mon"]}, "active_windows"),
        ("always", "active_windows"),
    ],
)
def test_bad_windows_are_400_naming_the_field_path(admin_api, people, windows, field):
    response = admin_api.post("/api/v1/rotations/", body(active_windows=windows), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Rotation.objects.exists()


def test_bad_windows_on_an_edit_change_nothing(admin_api, rotation):
    response = admin_api.patch(
        "/api/v1/rotations/core-ops/",
        {"active_windows": [{"days": ["sun"], "start": "25:00", "end": "01:00"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "active_windows[0].start" in response.json()["error"]["fields"]
    assert rotation.versions.count() == 1


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_windows_cost_no_extra_query_in_the_oncall_answer(admin_api, people):
    admin_api.post("/api/v1/rotations/", body(slug="plain", active_windows=[]), format="json")
    admin_api.post("/api/v1/rotations/", body(slug="windowed"), format="json")
    _queries(admin_api, "/api/v1/oncall/?rotation=plain")  # warm the token cache alike
    plain = _queries(admin_api, "/api/v1/oncall/?rotation=plain")
    windowed = _queries(admin_api, "/api/v1/oncall/?rotation=windowed")
    assert windowed == plain


# The admin: the same windows, as JSON in the rotation form ---------------------------


@pytest.fixture
def staff(client, django_user_model, people):
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.org", "pw"))
    return client


def admin_form(**changes):
    data = {
        "slug": "core",
        "name": "Core",
        "team": "",
        "members": "alice, bob",
        "shift_days": "7",
        "handoff_time": "09:00",
        "timezone": "Europe/Berlin",
        "active_windows": json.dumps(WEEKDAYS),
        "effective_from": "2026-11-02",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_admin_sets_windows_and_keeps_them_on_other_edits(staff):
    assert staff.post("/admin/rotations/rotation/add/", admin_form()).status_code == 302
    rotation = Rotation.objects.get(slug="core")
    assert rotation.versions.get().active_windows == WEEKDAYS
    change = f"/admin/rotations/rotation/{rotation.pk}/change/"
    page = staff.get(change).content.decode()
    assert "Mon–Fri 09:00–17:00" in page  # the versions inline
    version = rotation.versions.get()
    inline = {
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-0-id": str(version.pk),
        "versions-0-rotation": str(rotation.pk),
    }
    edited = admin_form(members="alice, bob, carol", effective_from="2026-11-30", **inline)
    assert staff.post(change, edited).status_code == 302
    assert [v.active_windows for v in rotation.versions.all()] == [WEEKDAYS, WEEKDAYS]


def test_admin_refuses_bad_windows_naming_the_path(staff):
    bad = [{"days": ["mon"], "start": "09:00", "end": "17:00"}, *WEEKDAYS]
    response = staff.post(
        "/admin/rotations/rotation/add/", admin_form(active_windows=json.dumps(bad))
    )
    assert response.status_code == 200
    assert "active_windows[1]: Overlaps active_windows[0]." in response.content.decode()
    assert not Rotation.objects.exists()
