"""The web UI's pages through Django's test client: what they show, filters, actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from escalation.models import Incident, TimelineEntry
from rotations import feeds
from rotations.models import Override
from tests.web.conftest import failure

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PAGES = ["/incidents/", "/oncall/", "/rotations/core-ops/", "/coverage/", "/me/"]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_root_redirects_to_the_incidents(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/incidents/"


def test_every_page_renders_for_a_logged_in_person(alice_client):
    incident = failure()
    for url in [*PAGES, f"/incidents/{incident.pk}/", "/oncall/?repo=standards"]:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert b"Alice" in response.content, url


def test_incident_list_shows_repo_job_result_occurrences_and_who_is_paged(alice_client):
    failure()
    failure()
    body = alice_client.get("/incidents/").content.decode()
    assert "SovereignCloudStack/standards" in body
    assert "scs-check-gx-scs-main" in body
    assert "FAILURE" in body
    assert "2×" in body
    # 2026-11-26 lies in the 23rd shift from 2026-01-05: carol, then alice as backup.
    assert "paged: <strong>Carol</strong>" in body
    assert "step 1" in body and "next ping" in body


def test_empty_list_says_so(alice_client):
    assert "Nothing open. 🎉" in alice_client.get("/incidents/").content.decode()


def test_tabs_and_filters_select_incidents(alice_client, world):
    claimed = failure(job="claimed-job")
    Incident.objects.filter(pk=claimed.pk).update(state="claimed", claimed_by=world.alice)
    failure(job="open-job", category="compliance")
    failure(repo="Other/repo", job="elsewhere")

    def shown(query: str) -> set[str]:
        incidents = alice_client.get(f"/incidents/{query}").context["incidents"]
        return {i.job for i in incidents}

    assert shown("") == {"claimed-job", "open-job", "elsewhere"}
    assert shown("?state=claimed") == {"claimed-job"}
    assert shown("?state=open") == {"open-job", "elsewhere"}
    assert shown("?state=open&repo=standards") == {"open-job"}
    assert shown("?team=ops") == {"claimed-job", "open-job"}
    assert shown("?category=compliance") == {"open-job"}
    assert shown("?state=nonsense&team=") == {"claimed-job", "open-job", "elsewhere"}


def test_times_have_relative_text_and_absolute_title_in_the_persons_zone(alice_client):
    failure()
    body = alice_client.get("/incidents/").content.decode()
    # Alice's zone is Europe/Berlin: 12:00 UTC is 13:00 CET.
    assert 'title="Thu 2026-11-26 13:00 CET">just now</time>' in body
    assert "Times in Europe/Berlin" in body


def test_claim_acts_as_the_linked_person_and_goes_back_keeping_filters(alice_client, world):
    incident = failure()
    back = "/incidents/?state=open&repo=standards"
    response = alice_client.post(f"/incidents/{incident.pk}/claim/", {"next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    incident.refresh_from_db()
    assert incident.state == "claimed"
    assert incident.claimed_by == world.alice
    entry = incident.timeline.get(kind=TimelineEntry.Kind.CLAIMED)
    assert (entry.actor, entry.channel) == (world.alice, "web")
    page = alice_client.get(back)
    assert "Claimed #" in page.content.decode()


def test_next_pointing_elsewhere_is_ignored(alice_client):
    incident = failure()
    response = alice_client.post(
        f"/incidents/{incident.pk}/claim/", {"next": "https://evil.example.org/"}
    )
    assert response["Location"] == f"/incidents/{incident.pk}/"


def test_resolve_unclaim_and_unmute(alice_client, world):
    incident = failure()
    url = f"/incidents/{incident.pk}"
    alice_client.post(f"{url}/claim/")
    alice_client.post(f"{url}/unclaim/")
    alice_client.post(f"{url}/mute/", {"minutes": "60"})
    alice_client.post(f"{url}/unmute/")
    alice_client.post(f"{url}/resolve/")
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.resolved_by == world.alice
    kinds = list(incident.timeline.values_list("kind", "channel"))
    assert kinds[1:] == [
        (k, "web") for k in ("claimed", "unclaimed", "muted", "unmuted", "resolved")
    ]


def test_action_that_no_longer_fits_says_so(alice_client, world):
    incident = failure()
    Incident.objects.filter(pk=incident.pk).update(state="claimed", claimed_by=world.bob)
    response = alice_client.post(f"/incidents/{incident.pk}/claim/", follow=True)
    assert "already claimed by Bob" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "until"),
    [
        ({"minutes": "60"}, NOW + timedelta(hours=1)),
        ({"minutes": "1440"}, NOW + timedelta(days=1)),
        ({"amount": "90", "unit": "minutes"}, NOW + timedelta(minutes=90)),
        ({"amount": "3", "unit": "days"}, NOW + timedelta(days=3)),
        # datetime-local in Alice's zone (Europe/Berlin, UTC+1 in November).
        ({"until": "2026-11-27T08:30"}, datetime(2026, 11, 27, 7, 30, tzinfo=UTC)),
    ],
)
def test_mute_for_a_preset_a_custom_duration_or_until_a_local_time(alice_client, data, until):
    incident = failure()
    response = alice_client.post(f"/incidents/{incident.pk}/mute/", data)
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.muted_until == until


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "Give either a duration or an end time."),
        ({"amount": "x"}, "Enter a whole number."),
        ({"amount": "0"}, "greater than or equal to 1"),
        ({"amount": "91", "unit": "days"}, "at most 90 days"),
        ({"minutes": "999999999999999999999"}, "at most 90 days"),
        ({"until": "yesterday"}, "Enter a valid date/time."),
        ({"until": "2026-11-20T10:00"}, "Must be in the future."),
        ({"amount": "2", "until": "2026-11-28T10:00"}, "Give either a duration or an end time."),
        ({"amount": "2", "unit": "weeks"}, "Select a valid choice."),
    ],
)
def test_bad_mute_input_is_a_form_error_not_a_500(alice_client, data, problem):
    incident = failure()
    response = alice_client.post(f"/incidents/{incident.pk}/mute/", data)
    assert response.status_code == 400
    assert problem in response.content.decode()
    incident.refresh_from_db()
    assert incident.muted_until is None


def test_a_login_without_person_can_view_but_not_act(client, world):
    incident = failure()
    client.force_login(world.viewer)
    page = client.get("/incidents/").content.decode()
    assert "view only" in page.lower()
    response = client.post(f"/incidents/{incident.pk}/claim/", follow=True)
    assert "not linked to a person" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == "open"


def test_a_login_is_linked_by_email_when_no_handle_matches(client, world):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bobby", "BOB@example.org", "pw")
    client.force_login(user)
    incident = failure()
    client.post(f"/incidents/{incident.pk}/claim/")
    incident.refresh_from_db()
    assert incident.claimed_by == world.bob


def test_incident_page_shows_timeline_links_workflow_and_history(alice_client, world):
    incident = failure(log_url="https://logs.example.org/1/")
    failure()
    alice_client.post(f"/incidents/{incident.pk}/claim/")
    body = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'href="https://zuul.example.org/t/scs/build/1"' in body
    assert 'href="https://logs.example.org/1/"' in body
    assert "<h1>Runbook</h1>" in body
    assert 'href="https://docs.example.org/runbook" rel="noopener noreferrer nofollow"' in body
    assert "Created" in body and "Claimed" in body and "via web" in body
    assert body.count('<tr><td><time datetime="2026-11-26T12:00:00+00:00"') == 2


def test_incident_page_never_links_a_javascript_url(alice_client):
    incident = failure()
    Incident.objects.filter(pk=incident.pk).update(url="javascript:alert(1)")
    body = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "javascript:alert" not in body


def test_unknown_incident_is_404(alice_client):
    assert alice_client.get("/incidents/999999/").status_code == 404
    assert alice_client.post("/incidents/999999/claim/").status_code == 404


def test_oncall_page_answers_who_is_responsible_for_a_repo(alice_client):
    body = alice_client.get("/oncall/?repo=sovereigncloudstack/STANDARDS").content.decode()
    assert "Responsible for “sovereigncloudstack/STANDARDS”" in body
    assert '<span class="person primary">Carol</span>' in body
    nothing = alice_client.get("/oncall/?repo=nobody/knows").content.decode()
    assert "No repo matches" in nothing


def test_oncall_page_lists_teams_rotations_and_next_handoffs(alice_client):
    body = alice_client.get("/oncall/").content.decode()
    assert "Ops" in body and "Core ops" in body
    # Carol until Mon 7 Dec 09:00 Berlin, then Alice, Bob, Carol.
    handoffs = body[body.index('aria-label="Next handoffs"') :]
    assert "Mon 7 Dec 09:00</time> → Alice" in handoffs
    assert "Mon 21 Dec 09:00</time> → Bob" in handoffs


def test_rotation_page_shows_shifts_overrides_and_subscribe_links(alice_client, world):
    Override.objects.create(
        rotation=world.rotation,
        person=world.bob,
        start=NOW + timedelta(days=2),
        end=NOW + timedelta(days=3),
        reason="swap",
    )
    body = alice_client.get("/rotations/core-ops/").content.decode()
    assert "g-bar" in body and "override" in body and "“swap”" in body
    world.rotation.refresh_from_db()
    world.alice.refresh_from_db()
    rotation_urls = feeds.feed_urls(feeds.current_token(world.rotation))
    alice_urls = feeds.feed_urls(feeds.current_token(world.alice))
    for urls in (rotation_urls, alice_urls):
        assert urls["webcal_url"] in body and urls["ical_url"] in body
    assert alice_client.get("/rotations/nope/").status_code == 404


def test_subscribe_link_works_and_stays_the_same_across_visits(alice_client, world):
    first = alice_client.get("/rotations/core-ops/").context["rotation_feed"]
    second = alice_client.get("/rotations/core-ops/").context["rotation_feed"]
    assert first == second
    path = first["ical_url"].split("://", 1)[1].split("/", 1)[1]
    feed = alice_client.get(f"/{path}")
    assert feed.status_code == 200 and b"BEGIN:VCALENDAR" in feed.content


def test_create_override_from_the_page(alice_client, world):
    response = alice_client.post(
        "/rotations/core-ops/overrides/",
        {"person": "alice", "start": "2026-12-01T09:00", "end": "2026-12-03T09:00", "reason": "x"},
    )
    assert response.status_code == 302
    override = Override.objects.get()
    assert override.person == world.alice  # others only by staff: tests/web/test_acting.py
    assert override.start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    assert override.end == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"person": "bob", "start": "2026-12-03T09:00", "end": "2026-12-01T09:00"}, "after the"),
        ({"person": "nobody", "start": "2026-12-01T09:00", "end": "2026-12-02T09:00"}, "valid"),
        ({"person": "bob", "start": "soon", "end": "2026-12-02T09:00"}, "valid date/time"),
        ({"person": "bob", "start": "2026-11-01T09:00", "end": "2026-11-02T09:00"}, "future"),
    ],
)
def test_bad_override_input_is_a_form_error(alice_client, data, problem):
    response = alice_client.post("/rotations/core-ops/overrides/", data)
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not Override.objects.exists()


def test_delete_override_from_the_page(alice_client, world):
    override = Override.objects.create(
        rotation=world.rotation, person=world.alice, start=NOW, end=NOW + timedelta(days=1)
    )
    alice_client.post(f"/rotations/core-ops/overrides/{override.pk}/delete/")
    override.refresh_from_db()
    assert override.deleted_at is not None


def test_my_page_shows_shifts_feed_and_my_incidents(alice_client, world):
    mine = failure()
    Incident.objects.filter(pk=mine.pk).update(state="claimed", claimed_by=world.alice)
    failure(repo="Other/repo")
    response = alice_client.get("/me/")
    body = response.content.decode()
    assert [i.pk for i in response.context["incidents"]] == [mine.pk]
    # Alice's next shifts: from 2026-12-07 09:00 Berlin for 14 days, then six weeks later.
    assert "Mon 7 Dec 09:00</time> → <time" in body
    assert "Mon 18 Jan 09:00" in body
    assert response.context["feed"]["webcal_url"] in body


def test_resetting_my_feed_kills_the_old_link(alice_client, world):
    old = alice_client.get("/me/").context["feed"]
    response = alice_client.post("/me/feed/reset/")
    assert response.status_code == 302
    new = alice_client.get("/me/").context["feed"]
    assert new != old
    old_path = "/" + old["ical_url"].split("://", 1)[1].split("/", 1)[1]
    assert alice_client.get(old_path).status_code == 404


def test_only_staff_reset_a_rotation_feed(alice_client, world):
    old = alice_client.get("/rotations/core-ops/").context["rotation_feed"]
    alice_client.post("/rotations/core-ops/feed/reset/")
    assert alice_client.get("/rotations/core-ops/").context["rotation_feed"] == old
    world.user.is_staff = True
    world.user.save()
    alice_client.post("/rotations/core-ops/feed/reset/")
    assert alice_client.get("/rotations/core-ops/").context["rotation_feed"] != old


def test_coverage_shows_unowned_repos_gaps_and_shifts_per_person(alice_client, world):
    from escalation.models import Repo

    Repo.objects.create(name="Lonely/repo")
    failure(repo="Nobody/knows")
    body = alice_client.get("/coverage/?days=28").content.decode()
    assert "Lonely/repo" in body
    assert "Nobody/knows" in body
    assert "No gaps" in body
    workload = alice_client.get("/coverage/").context["workload"]
    assert {row["person"].handle for row in workload} == {"alice", "bob", "carol"}
    assert sum(row["shifts"] for row in workload) == 3  # carol, alice, bob in 28 days
    assert alice_client.get("/coverage/?days=nonsense").status_code == 200


def test_me_without_person_explains(client, world):
    client.force_login(world.viewer)
    assert "not linked to a person" in client.get("/me/").content.decode()


def test_times_default_to_utc_without_person(client, world):
    client.force_login(world.viewer)
    failure()
    body = client.get("/incidents/").content.decode()
    assert 'title="Thu 2026-11-26 12:00 UTC"' in body
    assert timezone.get_current_timezone_name() == "UTC"
