"""The admin: every page answers, lists stay at a constant number of queries, incidents
are view-only and change only through the lifecycle services (channel "admin")."""

from datetime import UTC, datetime, time, timedelta
from itertools import count

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from escalation.models import (
    Contact,
    ContactChange,
    Incident,
    MatrixDirectRoom,
    MatrixEvent,
    MatrixMessage,
    MatrixSync,
    Notification,
    NotificationRules,
    Occurrence,
    Route,
    Silence,
    TimelineEntry,
    Watch,
)
from oncall.models import ApiToken, Heartbeat
from rotations import services
from rotations.models import HandoffNotice, Person, Swap, SwapMessage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
INCIDENTS = "/admin/escalation/incident/"
keys = count()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_incident(ref=None, policy=None, **fields):
    """An incident of the Repo ``ref`` (None: of an unknown repo), escalating under
    ``policy`` when given."""
    n = next(keys)
    defaults = {
        "dedup_key": f"zuul:{n}",
        "source": "zuul",
        "repo": ref.name if ref else "Unknown/repo",
        "repo_ref": ref,
        "job": f"scs-check-{n}",
        "result": "FAILURE",
        "occurrences": 1,
        "policy": policy.snapshot() if policy else None,
        "next_escalation_at": NOW + timedelta(minutes=30) if policy else None,
        "escalation_started_at": NOW if policy else None,
    }
    return Incident.objects.create(**{**defaults, **fields})


@pytest.fixture
def me(admin_user, people):
    """The admin's login is linked to alice."""
    alice = people["alice"]
    alice.user = admin_user
    alice.save()
    return alice


def act(client, action, *incidents):
    response = client.post(
        INCIDENTS,
        {"action": action, "_selected_action": [i.pk for i in incidents]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


# Every page answers.


@pytest.fixture
def world(repo, people, policy, admin_user):
    """At least one row of every model the admin shows."""
    alice, bob = people["alice"], people["bob"]
    contact = Contact.objects.create(slug="gx", name="GX ops", email="ops@gx.example.org")
    route = Route.objects.create(
        match={"job": "*-flavor-check"}, repo=repo, category="compliance", policy=policy
    )
    route.forward_to.add(contact)
    Silence.objects.create(
        match={"job": "flaky-*"}, starts=NOW, ends=NOW + timedelta(days=1), created_by=alice
    )
    incident = make_incident(
        repo, policy, state=Incident.State.CLAIMED, claimed_by=bob, claimed_at=NOW, route=route
    )
    incident.forwarded_to.add(contact)
    Occurrence.objects.create(incident=incident, delivery_key="d1", payload={"job": "x"})
    TimelineEntry.objects.create(incident=incident, kind="created", channel="zuul")
    Notification.objects.create(
        incident=incident,
        key="k1",
        kind=Notification.Kind.PAGE,
        channel=Notification.Channel.EMAIL,
        address="bob@example.org",
        person=bob,
    )
    services.create_override(
        rotation=repo.rotation, person=alice, start=NOW, end=NOW + timedelta(days=1)
    )
    HandoffNotice.objects.create(
        rotation=repo.rotation,
        person=alice,
        shift_start=NOW,
        shift_end=NOW + timedelta(days=14),
        kind=HandoffNotice.Kind.STARTED,
    )
    swap = Swap.objects.create(
        rotation=repo.rotation, requester=alice, start=NOW, end=NOW + timedelta(days=1)
    )
    SwapMessage.objects.create(swap=swap, event_id="$s1", room="!r:x.org")
    Group.objects.create(name="on-call admins")
    token = ApiToken(name="zuul", scopes=["ingest"], person=alice)
    token.set_new_secret()
    token.save()
    Heartbeat.objects.create(name="beat", at=NOW)
    MatrixMessage.objects.create(incident=incident, room="!r:x.org", event_id="$e1", root=True)
    MatrixEvent.objects.create(
        event_id="$e2", room="!r:x.org", sender="@mallory:x.org", kind="reaction", text="👀"
    )
    MatrixSync.objects.create(user_id="@bot:x.org", since="s1")
    Watch.objects.create(slug="daily", match={"pipeline": "daily"}, every_seconds=60, due_at=NOW)
    NotificationRules.objects.create(
        person=alice, rules=[{"channel": "email", "delay_seconds": 60}], quiet_start=time(22)
    )
    MatrixDirectRoom.objects.create(user_id="@alice:x.org", room_id="!dm:x.org")
    ContactChange.objects.create(person=alice, field="email", value="alice@new.example.org")
    return incident


REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
def test_every_registered_model_lists_and_shows_its_rows(admin_client, world, model):
    opts = model._meta
    listing = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert listing.status_code == 200
    row = model._default_manager.first()
    assert row is not None, f"the world fixture needs a {opts.label} row"
    page = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    )
    assert page.status_code == 200


def test_non_staff_user_is_sent_to_the_admin_login(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("eve", "eve@example.org", "pw"))
    for url in ["/admin/", INCIDENTS, "/admin/rotations/rotation/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


# Lists: constant queries, filters, search.


def test_incident_list_queries_do_not_grow_with_incidents(
    admin_client, repo, policy, django_assert_max_num_queries
):
    team = repo.team
    for size in (5, 200):
        while Incident.objects.count() < size:
            n = Incident.objects.count()
            claimer = Person.objects.create(handle=f"p{n}", name=f"P {n}")
            team.members.add(claimer)
            make_incident(
                repo,
                policy,
                state=Incident.State.CLAIMED,
                claimed_by=claimer,
                muted_until=NOW + timedelta(hours=n % 3),
                category=f"cat{n % 4}",
            )
        with django_assert_max_num_queries(10):
            response = admin_client.get(INCIDENTS)
        shown = response.context["cl"].result_list
        assert len(shown) == min(size, 100)
        assert shown[0].claimed_by.name.encode() in response.content


def test_incident_list_filters_muted_now_team_and_searches(admin_client, repo, policy):
    muted = make_incident(repo, policy, muted_until=NOW + timedelta(hours=1), job="flavor-check")
    was_muted = make_incident(repo, policy, muted_until=NOW - timedelta(hours=1))
    plain = make_incident(None, policy, repo="Other/repo")

    def ids(query):
        response = admin_client.get(INCIDENTS + query)
        assert response.status_code == 200
        return {i.pk for i in response.context["cl"].result_list}

    assert ids("?muted=yes") == {muted.pk}
    assert ids("?muted=no") == {was_muted.pk, plain.pk}
    assert ids(f"?repo_ref__team__id__exact={repo.team.pk}") == {muted.pk, was_muted.pk}
    assert ids("?q=flavor") == {muted.pk}
    assert ids("?q=Other") == {plain.pk}


def test_repo_list_shows_who_is_on_call_and_filters_repos_without_rotation(admin_client, repo):
    from escalation.models import Repo

    orphan = Repo.objects.create(name="Nobody/owns")
    response = admin_client.get("/admin/escalation/repo/")
    rows = {r.name: r for r in response.context["cl"].result_list}
    # 2026-01-05 + 14-day shifts of alice, bob, carol: carol on 2026-11-26.
    assert rows[repo.name].oncall_now.primary.handle == "carol"
    assert b"nobody: no rotation" in response.content
    gaps = admin_client.get("/admin/escalation/repo/?rotation__isempty=1")
    assert [r.pk for r in gaps.context["cl"].result_list] == [orphan.pk]


# Incident actions go through the lifecycle services.


def test_claim_selected_claims_as_the_linked_person_and_skips_resolved(admin_client, me, repo):
    first, second = make_incident(repo), make_incident(repo)
    done = make_incident(repo, state=Incident.State.RESOLVED, resolved_at=NOW)
    shown = act(admin_client, "claim_selected", first, second, done)
    assert shown == ["2 claimed, 1 skipped: already resolved."]
    for incident in (first, second):
        incident.refresh_from_db()
        assert (incident.state, incident.claimed_by) == ("claimed", me)
        entry = incident.timeline.get()
        assert (entry.kind, entry.actor, entry.channel) == ("claimed", me, "admin")
    done.refresh_from_db()
    assert done.state == "resolved" and not done.timeline.exists()


def test_claim_selected_skips_incidents_claimed_by_someone_else(admin_client, me, repo, people):
    theirs = make_incident(repo, state=Incident.State.CLAIMED, claimed_by=people["bob"])
    mine = make_incident(repo, state=Incident.State.CLAIMED, claimed_by=me)
    shown = act(admin_client, "claim_selected", theirs, mine)
    assert shown == ["0 claimed, 2 skipped: 1 claimed by someone else, 1 already yours."]
    theirs.refresh_from_db()
    assert theirs.claimed_by == people["bob"] and not theirs.timeline.exists()


def test_resolve_selected_stops_escalation_and_skips_resolved(admin_client, me, repo, policy):
    open_, claimed = make_incident(repo, policy), make_incident(repo, policy)
    act(admin_client, "claim_selected", claimed)
    done = make_incident(repo, state=Incident.State.RESOLVED, resolved_at=NOW)
    shown = act(admin_client, "resolve_selected", open_, claimed, done)
    assert shown == ["2 resolved, 1 skipped: already resolved."]
    for incident in (open_, claimed):
        incident.refresh_from_db()
        assert (incident.state, incident.resolved_by, incident.next_escalation_at) == (
            "resolved",
            me,
            None,
        )
        entry = incident.timeline.last()
        assert (entry.kind, entry.actor, entry.channel) == ("resolved", me, "admin")


def test_mute_selected_mutes_for_one_day_and_skips_resolved(admin_client, me, repo, policy):
    incident = make_incident(repo, policy)
    done = make_incident(repo, state=Incident.State.RESOLVED, resolved_at=NOW)
    shown = act(admin_client, "mute_selected", incident, done)
    assert shown == ["1 muted, 1 skipped: already resolved."]
    incident.refresh_from_db()
    assert incident.muted_until == NOW + timedelta(days=1)
    entry = incident.timeline.get()
    assert (entry.kind, entry.actor, entry.channel) == ("muted", me, "admin")
    assert act(admin_client, "unmute_selected", incident) == ["1 unmuted."]
    incident.refresh_from_db()
    assert incident.muted_until is None


def test_unclaim_selected_reopens_claimed_and_skips_open(admin_client, me, repo, people):
    claimed = make_incident(repo, state=Incident.State.CLAIMED, claimed_by=people["bob"])
    open_ = make_incident(repo)
    shown = act(admin_client, "unclaim_selected", claimed, open_)
    assert shown == ["1 unclaimed, 1 skipped: not claimed."]
    claimed.refresh_from_db()
    assert (claimed.state, claimed.claimed_by) == ("open", None)
    assert claimed.timeline.get().channel == "admin"


def test_actions_refuse_when_the_login_has_no_person(admin_client, people, repo):
    incident = make_incident(repo)
    shown = act(admin_client, "claim_selected", incident)
    assert len(shown) == 1 and "not linked to a person" in shown[0]
    incident.refresh_from_db()
    assert incident.state == "open" and not incident.timeline.exists()


def test_staff_who_may_only_view_incidents_cannot_run_actions(client, django_user_model, repo):
    viewer = django_user_model.objects.create_user("vic", "vic@example.org", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_incident"))
    Person.objects.create(handle="vic", name="Vic", user=viewer)
    client.force_login(viewer)
    incident = make_incident(repo)
    listing = client.get(INCIDENTS)
    assert listing.status_code == 200 and b'name="action"' not in listing.content
    client.post(INCIDENTS, {"action": "claim_selected", "_selected_action": [incident.pk]})
    incident.refresh_from_db()
    assert incident.state == "open"


# The incident page is view-only; its inlines show the latest rows, newest first.


def test_incident_page_is_view_only_and_a_post_cannot_add_or_edit_timeline(admin_client, world):
    entry = world.timeline.get()
    url = f"{INCIDENTS}{world.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    forged = {
        "state": "resolved",
        "timeline-TOTAL_FORMS": "2",
        "timeline-INITIAL_FORMS": "1",
        "timeline-0-id": str(entry.pk),
        "timeline-0-incident": str(world.pk),
        "timeline-0-kind": "resolved",
        "timeline-0-detail": "rewritten",
        "timeline-1-incident": str(world.pk),
        "timeline-1-kind": "resolved",
        "timeline-1-detail": "forged",
        "_save": "Save",
    }
    assert admin_client.post(url, forged).status_code == 403
    entry.refresh_from_db()
    world.refresh_from_db()
    assert (entry.kind, entry.detail) == ("created", "")
    assert world.timeline.count() == 1 and world.state == "claimed"


def test_incident_page_shows_the_latest_timeline_newest_first(admin_client, world):
    TimelineEntry.objects.bulk_create(
        TimelineEntry(
            incident=world,
            kind="notified",
            channel="escalation",
            detail=f"page-{n:03}",
            at=NOW + timedelta(minutes=n),
        )
        for n in range(60)
    )
    body = admin_client.get(f"{INCIDENTS}{world.pk}/change/").content.decode()
    assert "page-059" in body and "page-010" in body
    assert "page-009" not in body  # only the latest 50
    assert body.index("page-059") < body.index("page-058")
    assert "GX ops" in body  # forwarded to
    assert "bob@example.org" in body  # its notification


def test_notifications_are_view_only_but_go_with_their_incident(admin_client, world):
    notification = world.notifications.get()
    url = f"/admin/escalation/notification/{notification.pk}/"
    assert admin_client.post(f"{url}change/", {"status": "sent"}).status_code == 403
    assert admin_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    listing = admin_client.get("/admin/escalation/notification/?status__exact=pending&q=bob@")
    assert [n.pk for n in listing.context["cl"].result_list] == [notification.pk]
    response = admin_client.post(f"{INCIDENTS}{world.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Notification.objects.exists()


# Configuration pages.


def test_route_inline_on_the_repo_page_validates_the_match(admin_client, repo):
    response = admin_client.post(
        f"/admin/escalation/repo/{repo.pk}/change/",
        {
            "name": repo.name,
            "team": repo.team.pk,
            "rotation": repo.rotation.pk,
            "policy": repo.policy.pk,
            "routes-TOTAL_FORMS": "1",
            "routes-INITIAL_FORMS": "0",
            "routes-0-order": "10",
            "routes-0-match": '{"nope": "x"}',
            "routes-0-action": "page",
            "routes-0-min_occurrences": "1",
            "routes-0-window_seconds": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert b"Unknown key" in response.content
    assert not Route.objects.exists()


def test_a_new_silence_is_created_by_the_admins_person(admin_client, me):
    response = admin_client.post(
        "/admin/escalation/silence/add/",
        {
            "match": '{"job": "flaky-*"}',
            "starts_0": "2026-11-26",
            "starts_1": "12:00:00",
            "ends_0": "2026-11-27",
            "ends_1": "12:00:00",
            "comment": "known flaky",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Silence.objects.get().created_by == me
    active = admin_client.get("/admin/escalation/silence/?active=yes")
    assert len(active.context["cl"].result_list) == 1
