"""Swaps and covers through the REST API (docs/api.md "Swaps", docs/rotations.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from icalendar import Calendar

from oncall.celery import app as celery_app
from rotations import feeds, services, swap_notices, swap_services
from rotations.models import Override, Person, Swap, SwapNotice, Team
from rotations.tasks import resend_swap_notices
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Weekly, Monday 09:00 Berlin (08:00 UTC) from 2026-11-30: alice, bob, carol, alice, …
ALICE_NEXT = (datetime(2026, 12, 21, 8, tzinfo=UTC), datetime(2026, 12, 28, 8, tzinfo=UTC))


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def eager():
    """Notices go out in the request's process, as a worker would send them."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def smtp(settings):
    with use_smtp_server(settings) as server:
        yield server


@pytest.fixture
def people():
    return {
        h: Person.objects.create(handle=h, name=h.title(), email=f"{h}@example.org")
        for h in ("alice", "bob", "carol", "dave", "lena")
    }


@pytest.fixture
def team(people):
    team = Team.objects.create(slug="ops", name="Ops")
    team.leads.add(people["lena"])
    return team


@pytest.fixture
def rotation(people, team):
    spec = services.ScheduleSpec(
        [people["alice"], people["bob"], people["carol"]], 7, time(9), "Europe/Berlin"
    )
    return services.create_rotation(
        slug="core", name="Core", team=team, spec=spec, start=date(2026, 11, 30)
    )


@pytest.fixture
def api(token_client, people, django_capture_on_commit_callbacks):
    """``api("alice")``: a client with a token bound to alice (scopes read, act); on-commit
    work (the notices) runs as each request commits."""

    def make(handle: str):
        client = token_client("read", "act", person=people[handle])
        post = client.post

        def post_now(*args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return post(*args, format="json", **kwargs)

        client.post = post_now
        return client

    return make


def ask(api, who="alice", start=ALICE_NEXT[0], end=ALICE_NEXT[1], **extra):
    body = {"rotation": "core", "start": iso(start), "end": iso(end), **extra}
    return api(who).post("/api/v1/swaps/", body)


def oncall(client, at: datetime) -> str:
    answer = client.get(f"/api/v1/oncall/?rotation=core&at={iso(at)}").json()
    return answer["primary"]["handle"]


def test_asked_then_taken_swap_is_an_override_and_everyone_affected_hears(
    api, rotation, smtp, people
):
    middle = ALICE_NEXT[0] + timedelta(days=2)
    asked = ask(api, note="family visit")
    assert asked.status_code == 201, asked.json()
    swap = asked.json()
    assert (swap["state"], swap["requester"]["handle"], swap["taken_by"]) == (
        "open",
        "alice",
        None,
    )
    assert swap["rotation"] == "core" and swap["note"] == "family visit"
    # the other members hear of it, alice (who asked) and dave (not a member) do not
    asked_to = sorted(r for m in smtp.received for r in m.recipients)
    assert asked_to == ["bob@example.org", "carol@example.org"]
    assert f"!take {swap['id']}" in smtp.received[0].message.get_content()
    assert oncall(api("bob"), middle) == "alice"

    taken = api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {})
    assert taken.status_code == 200, taken.json()
    assert (taken.json()["state"], taken.json()["taken_by"]["handle"]) == ("taken", "bob")
    assert taken.json()["taken_at"] == iso(NOW)
    assert oncall(api("bob"), middle) == "bob"
    override = Override.objects.get(swap__pk=swap["id"])
    assert (override.person.handle, override.start, override.end) == ("bob", *ALICE_NEXT)
    told = sorted(r for m in smtp.received[2:] for r in m.recipients)
    assert told == ["alice@example.org", "bob@example.org"]
    assert "taken" in smtp.received[2].message["Subject"]


def test_a_range_outside_ones_own_shifts_is_refused_with_the_reason(api, rotation):
    bobs = datetime(2026, 12, 8, 8, tzinfo=UTC)
    answer = ask(api, start=bobs, end=bobs + timedelta(days=1))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    assert "not on call for core throughout" in answer.json()["error"]["message"]
    reaching = ask(api, start=ALICE_NEXT[0], end=ALICE_NEXT[1] + timedelta(hours=1))
    assert reaching.status_code == 400
    assert ask(api, end=ALICE_NEXT[0]).status_code == 400  # end not after start


def test_overlapping_swaps_are_refused_with_409(api, rotation):
    assert ask(api, end=ALICE_NEXT[0] + timedelta(days=3)).status_code == 201
    clash = ask(api, start=ALICE_NEXT[0] + timedelta(days=2))
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "conflict"
    assert "already covers core" in clash.json()["error"]["message"]
    assert ask(api, start=ALICE_NEXT[0] + timedelta(days=3)).status_code == 201  # adjacent


def test_only_other_members_of_the_rotation_take(api, rotation):
    swap = ask(api).json()
    outsider = api("dave").post(f"/api/v1/swaps/{swap['id']}/take/", {})
    assert outsider.status_code == 403
    assert "Only members of core" in outsider.json()["error"]["message"]
    assert api("alice").post(f"/api/v1/swaps/{swap['id']}/take/", {}).status_code == 403
    assert api("carol").post(f"/api/v1/swaps/{swap['id']}/take/", {}).status_code == 200
    again = api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_a_person_token_acts_only_as_its_person(api, rotation, admin_api, people):
    swap = ask(api).json()
    as_carol = api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {"by": "carol"})
    assert as_carol.status_code == 403
    assert as_carol.json()["error"]["code"] == "permission_denied"
    assert ask(api, who="bob", by="alice").status_code == 403
    assert Swap.objects.filter(taken_by__isnull=False).count() == 0
    by_admin = admin_api.post(f"/api/v1/swaps/{swap['id']}/take/", {"by": "carol"}, format="json")
    assert by_admin.status_code == 200
    assert by_admin.json()["taken_by"]["handle"] == "carol"


def test_with_approval_a_lead_makes_the_taken_swap_an_override(api, rotation, team):
    team.swap_approval = True
    team.save()
    swap = ask(api).json()
    taken = api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {}).json()
    assert taken["state"] == "taken" and taken["override"] is None
    told = sorted(m.to[0] for m in mail.outbox if f"#{swap['id']} taken" in m.subject)
    assert told == ["alice@example.org", "bob@example.org", "lena@example.org"]  # lena approves
    assert oncall(api("bob"), ALICE_NEXT[0]) == "alice"
    not_lead = api("bob").post(f"/api/v1/swaps/{swap['id']}/approve/", {})
    assert not_lead.status_code == 403
    approved = api("lena").post(f"/api/v1/swaps/{swap['id']}/approve/", {})
    assert approved.status_code == 200
    body = approved.json()
    assert (body["state"], body["approved_by"]["handle"]) == ("approved", "lena")
    assert oncall(api("bob"), ALICE_NEXT[0]) == "bob"
    assert api("lena").post(f"/api/v1/swaps/{swap['id']}/approve/", {}).status_code == 409


def test_requester_withdraws_an_open_swap_others_cannot(api, rotation):
    swap = ask(api).json()
    assert api("bob").post(f"/api/v1/swaps/{swap['id']}/cancel/", {}).status_code == 403
    cancelled = api("alice").post(f"/api/v1/swaps/{swap['id']}/cancel/", {})
    assert cancelled.status_code == 200
    assert (cancelled.json()["state"], cancelled.json()["cancelled_by"]["handle"]) == (
        "cancelled",
        "alice",
    )
    assert ask(api).status_code == 201  # the range is free again


def test_undo_before_the_start_removes_the_override_after_it_409(api, rotation, frozen):
    first = ask(api, end=ALICE_NEXT[0] + timedelta(days=1)).json()
    api("bob").post(f"/api/v1/swaps/{first['id']}/take/", {})
    undone = api("bob").post(f"/api/v1/swaps/{first['id']}/cancel/", {})  # the taker undoes
    assert undone.status_code == 200 and undone.json()["state"] == "cancelled"
    assert Override.objects.get(swap__pk=first["id"]).deleted_at is not None
    assert oncall(api("bob"), ALICE_NEXT[0]) == "alice"

    second = ask(api, end=ALICE_NEXT[0] + timedelta(days=1)).json()
    api("carol").post(f"/api/v1/swaps/{second['id']}/take/", {})
    frozen.move_to(ALICE_NEXT[0] + timedelta(hours=1))
    late = api("alice").post(f"/api/v1/swaps/{second['id']}/cancel/", {})
    assert late.status_code == 409
    assert "has started" in late.json()["error"]["message"]
    assert oncall(api("bob"), ALICE_NEXT[0] + timedelta(hours=2)) == "carol"


def test_cover_by_oneself_or_a_lead_is_at_once_else_offered(api, rotation, people):
    until = NOW + timedelta(days=14)
    mine = api("carol").post("/api/v1/swaps/cover/", {"rotation": "core", "end": iso(until)})
    assert mine.status_code == 201, mine.json()
    assert (mine.json()["state"], mine.json()["taken_by"]["handle"]) == ("taken", "carol")
    assert oncall(api("bob"), NOW + timedelta(days=8)) == "carol"
    api("carol").post(f"/api/v1/swaps/{mine.json()['id']}/cancel/", {})  # it started: 409
    later = NOW + timedelta(days=20)
    offered = api("carol").post(
        "/api/v1/swaps/cover/",
        {
            "rotation": "core",
            "person": "bob",
            "start": iso(later),
            "end": iso(later + timedelta(days=1)),
        },
    )
    assert offered.status_code == 201
    assert (offered.json()["state"], offered.json()["offered_to"]["handle"]) == ("open", "bob")
    assert oncall(api("bob"), later) == "alice"  # nobody is on call without their action
    assert api("alice").post(f"/api/v1/swaps/{offered.json()['id']}/take/", {}).status_code == 403
    assert api("bob").post(f"/api/v1/swaps/{offered.json()['id']}/take/", {}).status_code == 200
    assert oncall(api("bob"), later) == "bob"
    lead = api("lena").post(
        "/api/v1/swaps/cover/",
        {
            "rotation": "core",
            "person": "carol",
            "start": iso(later + timedelta(days=2)),
            "end": iso(later + timedelta(days=3)),
        },
    )
    assert lead.status_code == 201
    assert (lead.json()["state"], lead.json()["approved_by"]["handle"]) == ("approved", "lena")
    assert oncall(api("bob"), later + timedelta(days=2, hours=1)) == "carol"
    # carol, who covers, lena, who did it, and alice, whose shift it was, hear of it
    told = sorted(m.to[0] for m in mail.outbox if f"#{lead.json()['id']} covered" in m.subject)
    assert told == ["alice@example.org", "carol@example.org", "lena@example.org"]
    outsider = api("lena").post(
        "/api/v1/swaps/cover/", {"rotation": "core", "person": "dave", "end": iso(until)}
    )
    assert outsider.status_code == 403


def test_both_feeds_show_the_swap_with_stable_uids(api, rotation, people, client, settings, frozen):
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    secrets = {h: feeds.issue_token(people[h]) for h in ("alice", "bob")}

    def events(handle: str) -> dict[tuple[datetime, datetime], tuple[str, int]]:
        body = client.get(f"/ical/{secrets[handle]}.ics").content
        return {
            (e.decoded("dtstart"), e.decoded("dtend")): (str(e["uid"]), int(e["sequence"]))
            for e in Calendar.from_ical(body).walk("VEVENT")
        }

    before = events("alice")
    assert ALICE_NEXT in before
    frozen.shift(timedelta(minutes=5))
    swap = ask(api, end=ALICE_NEXT[0] + timedelta(days=2)).json()
    api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {})
    covered = (ALICE_NEXT[0], ALICE_NEXT[0] + timedelta(days=2))
    alice, bob = events("alice"), events("bob")
    assert covered in bob and covered not in alice
    assert (ALICE_NEXT[0] + timedelta(days=2), ALICE_NEXT[1]) in alice
    assert events("bob")[covered][0] == bob[covered][0]  # the same UID on each fetch
    frozen.shift(timedelta(minutes=5))
    api("bob").post(f"/api/v1/swaps/{swap['id']}/cancel/", {})
    alice_after, bob_after = events("alice"), events("bob")
    assert covered not in bob_after
    # alice's shift is whole again: its UID is the one it had, its SEQUENCE went up
    assert alice_after[ALICE_NEXT][0] == before[ALICE_NEXT][0]
    assert alice_after[ALICE_NEXT][1] > before[ALICE_NEXT][1]


def test_list_filters_and_bad_input(api, rotation):
    ask(api)
    client = api("bob")
    assert [
        s["requester"]["handle"] for s in client.get("/api/v1/swaps/?state=open").json()["results"]
    ] == ["alice"]
    assert client.get("/api/v1/swaps/?person=bob").json()["results"] == []
    assert client.get("/api/v1/swaps/?state=nonsense").status_code == 400
    bad = client.post("/api/v1/swaps/", {"rotation": "nope", "start": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert client.post("/api/v1/swaps/999/take/", {}).status_code == 404
    unknown = client.post(
        "/api/v1/swaps/",
        {"rotation": "core", "start": iso(ALICE_NEXT[0]), "end": iso(ALICE_NEXT[1]), "by": "zed"},
    )
    assert unknown.status_code == 400


def test_a_swaps_override_is_undone_through_the_swap_only(api, rotation, admin_api):
    swap = ask(api).json()
    api("bob").post(f"/api/v1/swaps/{swap['id']}/take/", {})
    override = Override.objects.get(swap__pk=swap["id"])
    refused = admin_api.delete(f"/api/v1/overrides/{override.pk}/")
    assert refused.status_code == 409
    assert f"swap #{swap['id']}" in refused.json()["error"]["message"]
    assert Override.objects.get(pk=override.pk).deleted_at is None


def test_the_swap_list_costs_the_same_queries_for_more_swaps(
    api, rotation, django_assert_max_num_queries
):
    client = api("bob")
    for day in range(3):
        ask(
            api,
            start=ALICE_NEXT[0] + timedelta(days=day),
            end=ALICE_NEXT[0] + timedelta(days=day + 1),
        )
    with django_assert_max_num_queries(4):  # token, count, page (people joined)
        assert len(client.get("/api/v1/swaps/").json()["results"]) == 3


def test_a_notice_whose_wake_up_was_lost_is_sent_by_the_beat(
    rotation, people, frozen, django_capture_on_commit_callbacks
):
    """The change and its notice row commit together; without its task (a broker outage)
    the beat sends it two minutes later, once."""
    swap = swap_services.request(
        rotation=rotation, requester=people["alice"], start=ALICE_NEXT[0], end=ALICE_NEXT[1]
    )  # in the test's transaction: no on-commit, so no task ran
    notice = SwapNotice.objects.get(swap=swap)
    assert (notice.event, notice.status) == ("requested", "pending")
    assert resend_swap_notices.apply().get() == 0  # not late yet
    frozen.shift(timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_swap_notices.apply().get() == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == ("sent", 1)
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.org", "carol@example.org"]
    assert swap_notices.deliver(notice.pk) == 0  # once
