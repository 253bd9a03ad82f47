"""HTML pages go out gzip-compressed; JSON, feeds and pages with a feed secret do not."""

from __future__ import annotations

import gzip

import pytest

from rotations import feeds
from tests.web.test_queries import add_incidents

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


def test_the_incident_list_is_compressed_and_unpacks_to_the_page(alice_client, world):
    add_incidents(world, 100)
    plain = alice_client.get("/incidents/")
    packed = alice_client.get("/incidents/", **GZIP)
    assert packed.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    page = gzip.decompress(packed.content)
    assert b'id="incident-' in page and page.count(b"<article") == 100
    assert len(packed.content) * 5 < len(page)
    # The same page, only the CSRF token is masked afresh in each answer.
    assert plain.get("Content-Encoding") is None
    assert len(plain.content) == len(page)


def test_each_answer_is_padded_and_masks_the_csrf_token_afresh(alice_client, world):
    """BREACH: the same page compresses to different bodies (random gzip padding and a
    CSRF token masked per answer), so lengths tell an attacker little."""
    add_incidents(world, 5)
    bodies = [alice_client.get("/incidents/", **GZIP).content for _ in range(6)]
    assert len({len(body) for body in bodies}) > 1


def test_the_rotation_page_with_feed_links_is_never_compressed(alice_client, world):
    answer = alice_client.get("/rotations/core-ops/?weeks=4", **GZIP)
    assert answer.status_code == 200
    assert answer.get("Content-Encoding") is None
    world.rotation.refresh_from_db()  # the page issued its first token
    assert feeds.current_token(world.rotation).encode() in answer.content


def test_json_and_feeds_stay_uncompressed(admin_api, world):
    api = admin_api.get("/api/v1/rotations/", **GZIP)
    assert api.status_code == 200 and api.get("Content-Encoding") is None
    secret = feeds.issue_token(world.rotation)
    feed = admin_api.get(f"/ical/{secret}.ics", **GZIP)
    assert feed.status_code == 200 and feed.get("Content-Encoding") is None
    assert feed.content.startswith(b"BEGIN:VCALENDAR")
