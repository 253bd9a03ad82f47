"""Feed links in the API (docs/api.md, "Feeds"): ``ical_url``/``webcal_url`` on reads for
readers with access (the admin scope, and a person for their own feed), null for others."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rotations.models import Person, Team

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ROTATION = {
    "slug": "core-ops",
    "name": "Core ops",
    "members": ["alice", "bob"],
    "shift_days": 14,
    "handoff_time": "09:00",
    "timezone": "Europe/Berlin",
    "start": "2026-11-02",
}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people(db):
    """Made outside the API, so none of them has a feed link yet."""
    return {h: Person.objects.create(handle=h, name=h.title()) for h in ("alice", "bob")}


@pytest.fixture
def created(admin_api, people):
    """The rotation and team made by the API, with the links their creation answered."""
    rotation = admin_api.post("/api/v1/rotations/", ROTATION, format="json").json()
    team = admin_api.post(
        "/api/v1/teams/", {"slug": "ops", "name": "Ops", "members": ["alice"]}, format="json"
    ).json()
    return {"rotation": rotation, "team": team}


def feed_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def links(body):
    return body["ical_url"], body["webcal_url"]


def test_admin_reads_the_links_that_creation_answered_on_detail_and_list(admin_api, created):
    for kind, url in (("rotation", "/api/v1/rotations/"), ("team", "/api/v1/teams/")):
        issued = links(created[kind])
        slug = created[kind]["slug"]
        assert issued[0].startswith("http") and issued[1].startswith("webcal://")
        assert links(admin_api.get(f"{url}{slug}/").json()) == issued
        assert [links(r) for r in admin_api.get(url).json()["results"]] == [issued]


def test_admin_read_issues_a_working_link_for_a_person_that_had_none(admin_api, client, people):
    first = admin_api.get("/api/v1/people/alice/").json()

    assert first["ical_url"].startswith("http://")
    assert first["webcal_url"] == "webcal://" + first["ical_url"].split("://", 1)[1]
    assert admin_api.get("/api/v1/people/alice/").json()["ical_url"] == first["ical_url"]
    results = admin_api.get("/api/v1/people/").json()["results"]
    listed = {p["handle"]: p["ical_url"] for p in results}
    assert listed["alice"] == first["ical_url"] and listed["bob"]
    feed = client.get(feed_path(first["ical_url"]))
    assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.content


def test_reset_link_is_what_reads_show_afterwards(admin_api, client, people):
    old = admin_api.get("/api/v1/people/bob/").json()["ical_url"]

    new = admin_api.post("/api/v1/people/bob/ical/reset/").json()

    assert new["ical_url"] != old
    assert admin_api.get("/api/v1/people/bob/").json()["ical_url"] == new["ical_url"]
    assert client.get(feed_path(old)).status_code == 404


def test_person_token_reads_only_its_own_feed_link(token_client, admin_api, created, people):
    alices = token_client("read", person=people["alice"])
    own = alices.get("/api/v1/people/alice/").json()

    assert own["ical_url"] == admin_api.get("/api/v1/people/alice/").json()["ical_url"]
    assert own["ical_url"] and own["webcal_url"]
    assert links(alices.get("/api/v1/people/bob/").json()) == (None, None)
    listed = {p["handle"]: links(p) for p in alices.get("/api/v1/people/").json()["results"]}
    assert listed == {"alice": links(own), "bob": (None, None)}
    assert links(alices.get("/api/v1/rotations/core-ops/").json()) == (None, None)
    assert links(alices.get("/api/v1/teams/ops/").json()) == (None, None)
    assert [links(r) for r in alices.get("/api/v1/rotations/").json()["results"]] == [(None, None)]


def test_read_token_without_person_sees_no_feed_link(token_client, created):
    reader = token_client("read", "act")

    for url in ("/api/v1/people/alice/", "/api/v1/rotations/core-ops/", "/api/v1/teams/ops/"):
        assert links(reader.get(url).json()) == (None, None)
    assert all(r["ical_url"] is None for r in reader.get("/api/v1/people/").json()["results"])
    assert not Person.objects.filter(feed_digest__isnull=False).exists()  # nothing issued


def test_session_reads_its_own_feed_link_and_staff_every_link(
    client, django_user_model, created, people
):
    user = django_user_model.objects.create_user("alice", "a@example.org", "pw-123456")
    client.force_login(user)
    assert client.get("/api/v1/people/alice/").json()["ical_url"]
    assert client.get("/api/v1/people/bob/").json()["ical_url"] is None
    assert client.get("/api/v1/rotations/core-ops/").json()["ical_url"] is None
    user.is_staff = True
    user.save()
    assert client.get("/api/v1/people/bob/").json()["ical_url"]
    assert links(client.get("/api/v1/rotations/core-ops/").json()) == links(created["rotation"])


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/api/v1/people/", "/api/v1/teams/"])
def test_listing_links_of_objects_without_one_costs_constant_queries(admin_api, url):
    """The first admin read issues every missing link at once, not one query per row."""

    def make(start, count):
        for i in range(start, start + count):
            Person.objects.create(handle=f"p{i}", name=f"P{i}")
            Team.objects.create(slug=f"t{i}", name=f"T{i}")

    admin_api.get("/api/v1/contacts/")  # the token's first use records itself
    make(0, 2)
    few = _queries(admin_api, url)
    make(2, 20)  # 20 more without a link
    many = _queries(admin_api, url)

    assert many == few
    results = admin_api.get(url).json()["results"]
    assert len(results) == 22 and all(r["ical_url"] for r in results)
