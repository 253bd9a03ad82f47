"""The REST resources of rotations/: people, teams, rotations, overrides, on-call, shifts."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rotations.models import Person, Rotation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people():
    return [
        Person.objects.create(
            handle=h, name=h.title(), email=f"{h}@example.org", matrix_id=f"@{h}:example.org"
        )
        for h in ("alice", "bob", "carol")
    ]


def rotation_body(**changes):
    body = {
        "slug": "core-ops",
        "name": "Core ops",
        "members": ["alice", "bob", "carol"],
        "shift_days": 14,
        "handoff_time": "09:00",
        "timezone": "Europe/Berlin",
        "start": "2026-11-02",
    }
    body.update(changes)
    return body


@pytest.fixture
def rotation(admin_api, people):
    response = admin_api.post("/api/v1/rotations/", rotation_body(), format="json")
    assert response.status_code == 201, response.json()
    return Rotation.objects.get(slug="core-ops")


def test_create_rotation_answers_201_with_definition_and_feed_urls(admin_api, people):
    response = admin_api.post("/api/v1/rotations/", rotation_body(), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["members"] == ["alice", "bob", "carol"]
    assert (body["shift_days"], body["handoff_time"], body["start"]) == (14, "09:00", "2026-11-02")
    assert body["ical_url"].startswith("http") and body["webcal_url"].startswith("webcal://")
    again = admin_api.get("/api/v1/rotations/core-ops/").json()
    assert again["ical_url"] == body["ical_url"]  # more in tests/rotations/test_feed_links.py


def test_oncall_for_rotation_names_primary_backup_and_shift(admin_api, rotation):
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops").json()
    assert body["rotation"] == "core-ops"
    assert body["primary"] == {
        "handle": "bob",
        "name": "Bob",
        "email": "bob@example.org",
        "matrix_id": "@bob:example.org",
        "timezone": "UTC",
    }
    assert body["backup"]["handle"] == "carol"
    assert body["shift"] == {"start": "2026-11-16T08:00:00Z", "end": "2026-11-30T08:00:00Z"}
    assert body["override"] is False
    assert body["at"] == "2026-11-26T12:00:00Z"


def test_oncall_before_the_first_handoff_is_nobody(admin_api, rotation):
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops&at=2026-11-02T07:59:59Z").json()
    assert body["primary"] is None and body["backup"] is None and body["shift"] is None


def test_oncall_at_accepts_offsets_and_rejects_naive_times(admin_api, rotation):
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops&at=2026-11-16T09:00:00%2B01:00").json()
    assert body["primary"]["handle"] == "bob"
    response = admin_api.get("/api/v1/oncall/?rotation=core-ops&at=2026-11-16T09:00:00")
    assert response.status_code == 400
    assert "at" in response.json()["error"]["fields"]


def test_oncall_needs_a_selector_and_a_known_rotation(admin_api, rotation):
    assert admin_api.get("/api/v1/oncall/").status_code == 400
    response = admin_api.get("/api/v1/oncall/?rotation=nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_override_splits_shift_in_three_and_keeps_backup(admin_api, rotation):
    response = admin_api.post(
        "/api/v1/overrides/",
        {
            "rotation": "core-ops",
            "person": "carol",
            "start": "2026-11-20T00:00:00Z",
            "end": "2026-11-22T00:00:00Z",
            "reason": "alice at a conference",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    shifts = admin_api.get(
        "/api/v1/rotations/core-ops/shifts/?from=2026-11-16T08:00:00Z&to=2026-11-30T08:00:00Z"
    ).json()
    assert [(s["person"]["handle"], s["start"], s["end"], s["override"]) for s in shifts] == [
        ("bob", "2026-11-16T08:00:00Z", "2026-11-20T00:00:00Z", False),
        ("carol", "2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z", True),
        ("bob", "2026-11-22T00:00:00Z", "2026-11-30T08:00:00Z", False),
    ]
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops&at=2026-11-21T00:00:00Z").json()
    assert body["primary"]["handle"] == "carol"
    # bob stays on duty underneath; the next member, carol, is primary: backup is alice.
    assert body["backup"]["handle"] == "alice"
    assert body["override"] is True
    assert body["shift"] == {"start": "2026-11-20T00:00:00Z", "end": "2026-11-22T00:00:00Z"}


def test_shifts_overlapping_the_window_are_returned_whole(admin_api, rotation):
    shifts = admin_api.get(
        "/api/v1/rotations/core-ops/shifts/?from=2026-11-10T00:00:00Z&to=2026-11-17T00:00:00Z"
    ).json()
    assert [(s["person"]["handle"], s["start"]) for s in shifts] == [
        ("alice", "2026-11-02T08:00:00Z"),
        ("bob", "2026-11-16T08:00:00Z"),
    ]


def test_edit_with_effective_from_leaves_past_shifts_untouched(admin_api, rotation):
    url = "/api/v1/rotations/core-ops/shifts/?from=2026-11-02T00:00:00Z&to=2027-01-31T00:00:00Z"
    before = admin_api.get(url).json()
    Person.objects.create(handle="dave", name="Dave")
    response = admin_api.patch(
        "/api/v1/rotations/core-ops/",
        {
            "members": ["alice", "bob", "carol", "dave"],
            "shift_days": 21,
            "effective_from": "2026-12-14",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    after = admin_api.get(url).json()
    cut = "2026-12-14T08:00:00Z"
    assert [s for s in after if s["end"] <= cut] == [s for s in before if s["end"] <= cut]
    new = [s for s in after if s["start"] >= cut]
    # The order goes on after carol (on duty before the change): dave, then alice.
    assert [s["person"]["handle"] for s in new[:2]] == ["dave", "alice"]
    assert new[0]["end"] == "2027-01-04T08:00:00Z"  # 21 days
    assert len(response.json()["versions"]) == 2


def test_edit_without_effective_from_starts_at_the_next_handoff(admin_api, rotation):
    response = admin_api.patch("/api/v1/rotations/core-ops/", {"shift_days": 7}, format="json")
    assert response.status_code == 200
    assert response.json()["versions"][-1]["effective_from"] == "2026-11-30"
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops").json()
    assert body["primary"]["handle"] == "bob"  # the shift in progress did not change


def test_edit_in_the_past_is_refused(admin_api, rotation):
    response = admin_api.patch(
        "/api/v1/rotations/core-ops/",
        {"shift_days": 7, "effective_from": "2026-11-20"},
        format="json",
    )
    assert response.status_code == 400
    assert "effective_from" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"members": []}, "members"),
        ({"members": ["alice", "nobody"]}, "members"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"shift_days": 0}, "shift_days"),
        ({"handoff_time": "25:00"}, "handoff_time"),
        ({"members": ["alice", "alice"]}, "members"),
    ],
)
def test_bad_rotation_input_is_400_in_error_shape(admin_api, people, changes, field):
    response = admin_api.post("/api/v1/rotations/", rotation_body(**changes), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert not Rotation.objects.exists()


def test_override_end_before_start_is_400(admin_api, rotation):
    response = admin_api.post(
        "/api/v1/overrides/",
        {
            "rotation": "core-ops",
            "person": "carol",
            "start": "2026-11-22T00:00:00Z",
            "end": "2026-11-22T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "end" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2026-01-01T00:00:00Z&to=2028-01-03T00:00:00Z", "to"),
        ("from=yesterday", "from"),
    ],
)
def test_bad_shift_windows_are_400(admin_api, rotation, query, field):
    response = admin_api.get(f"/api/v1/rotations/core-ops/shifts/?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_deleted_override_no_longer_applies(admin_api, rotation):
    created = admin_api.post(
        "/api/v1/overrides/",
        {
            "rotation": "core-ops",
            "person": "carol",
            "start": "2026-11-26T00:00:00Z",
            "end": "2026-11-27T00:00:00Z",
        },
        format="json",
    ).json()
    assert admin_api.get("/api/v1/oncall/?rotation=core-ops").json()["primary"]["handle"] == "carol"
    assert admin_api.delete(f"/api/v1/overrides/{created['id']}/").status_code == 204
    assert admin_api.get("/api/v1/oncall/?rotation=core-ops").json()["primary"]["handle"] == "bob"
    assert admin_api.get("/api/v1/overrides/?rotation=core-ops").json()["count"] == 0


def test_inactive_person_is_skipped_from_deactivation_on(admin_api, rotation):
    response = admin_api.patch("/api/v1/people/bob/", {"active": False}, format="json")
    assert response.status_code == 200
    body = admin_api.get("/api/v1/oncall/?rotation=core-ops").json()
    assert body["primary"]["handle"] == "carol"
    earlier = admin_api.get("/api/v1/oncall/?rotation=core-ops&at=2026-11-20T00:00:00Z").json()
    assert earlier["primary"]["handle"] == "bob"  # the past stays as it was


def _queries(client, url):
    # One request per capture: Django clears the query log when a request starts.
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_rotation_and_override_lists_use_constant_queries(admin_api, people):
    def create(i):
        admin_api.post(
            "/api/v1/rotations/", rotation_body(slug=f"r{i}", name=f"R{i}"), format="json"
        )
        admin_api.patch(f"/api/v1/rotations/r{i}/", {"shift_days": 7}, format="json")
        admin_api.post(
            "/api/v1/overrides/",
            {
                "rotation": f"r{i}",
                "person": "carol",
                "start": "2026-12-01T00:00:00Z",
                "end": "2026-12-02T00:00:00Z",
            },
            format="json",
        )

    urls = ["/api/v1/rotations/", "/api/v1/overrides/", "/api/v1/people/", "/api/v1/teams/"]
    create(0)
    for url in urls:  # the first admin read issues missing feed links (two queries)
        _queries(admin_api, url)
    few = [_queries(admin_api, url) for url in urls]
    for i in range(1, 12):
        create(i)
    many = [_queries(admin_api, url) for url in urls]
    assert many == few
    assert max(few) <= 6
    assert admin_api.get("/api/v1/rotations/").json()["count"] == 12


def test_team_lists_members_by_handle(admin_api, people):
    response = admin_api.post(
        "/api/v1/teams/",
        {
            "slug": "ops",
            "name": "Ops",
            "members": ["alice", "bob"],
            "matrix_room": "!a:example.org",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["members"] == ["alice", "bob"]
    bad = admin_api.post(
        "/api/v1/teams/", {"slug": "x", "name": "X", "members": ["zed"]}, format="json"
    )
    assert bad.status_code == 400 and "members" in bad.json()["error"]["fields"]


def test_feed_reset_by_own_token_or_admin_only(token_client, admin_api, people):
    alice, bob = people[0], people[1]
    own = token_client("read", person=alice).post("/api/v1/people/alice/ical/reset/")
    assert own.status_code == 200
    assert own.json()["webcal_url"].startswith("webcal://")
    other = token_client("read", person=bob).post("/api/v1/people/alice/ical/reset/")
    assert other.status_code == 403
    assert admin_api.post("/api/v1/people/alice/ical/reset/").status_code == 200
