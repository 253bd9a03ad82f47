"""``lifecycle.perform``: the one entry for every incident action, and the one mute limit
that every channel (API, web, admin, e-mail link, Matrix) keeps."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import links
from escalation.chatops import commands
from escalation.chatops.act import act
from escalation.models import Incident, TimelineEntry
from escalation.services import lifecycle
from escalation.services.lifecycle import MAX_MUTE, Action
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident(token_client, repo):
    body = token_client("ingest").post("/api/v1/events/", FAILURE, format="json").json()
    return Incident.objects.get(pk=body["incidents"][0]["id"])


def test_perform_runs_every_action_and_writes_actor_and_channel(incident, people):
    alice = people["alice"]
    lifecycle.perform(incident, Action.CLAIM, by=alice, channel="web")
    assert incident.state == Incident.State.CLAIMED and incident.claimed_by == alice
    lifecycle.perform(incident, "unclaim", by=alice, channel="api")
    assert incident.state == Incident.State.OPEN
    until = NOW + timedelta(hours=2)
    lifecycle.perform(incident, Action.MUTE, by=alice, channel="matrix", until=until)
    assert incident.muted_until == until
    lifecycle.perform(incident, Action.UNMUTE, by=alice, channel="admin")
    assert incident.muted_until is None
    lifecycle.perform(incident, Action.RESOLVE, by=alice, channel="email", note="fixed in #12")
    assert incident.state == Incident.State.RESOLVED
    entries = list(
        incident.timeline.exclude(kind=TimelineEntry.Kind.CREATED)
        .order_by("pk")
        .values_list("kind", "channel", "actor__handle")
    )
    assert entries == [
        ("claimed", "web", "alice"),
        ("unclaimed", "api", "alice"),
        ("muted", "matrix", "alice"),
        ("unmuted", "admin", "alice"),
        ("resolved", "email", "alice"),
    ]
    assert incident.timeline.get(kind="resolved").detail == "fixed in #12"


def test_perform_refuses_what_does_not_fit_the_state(incident, people):
    lifecycle.perform(incident, Action.CLAIM, by=people["alice"], channel="api")
    with pytest.raises(lifecycle.InvalidState):
        lifecycle.perform(incident, Action.CLAIM, by=people["bob"], channel="api")
    with pytest.raises(lifecycle.InvalidState):
        lifecycle.perform(incident, Action.UNMUTE, by=people["bob"], channel="api")
    with pytest.raises(ValueError, match="explode"):
        lifecycle.perform(incident, "explode", by=people["bob"], channel="api")


@pytest.mark.parametrize(
    "until",
    [None, NOW, NOW - timedelta(minutes=1), NOW + MAX_MUTE + timedelta(minutes=1)],
)
def test_perform_refuses_a_mute_without_a_future_end_within_the_limit(incident, people, until):
    with pytest.raises(lifecycle.InvalidMute):
        lifecycle.perform(incident, Action.MUTE, by=people["alice"], channel="api", until=until)
    incident.refresh_from_db()
    assert incident.muted_until is None


def test_the_mute_limit_is_ninety_days(incident, people):
    assert timedelta(days=90) == MAX_MUTE
    lifecycle.perform(
        incident, Action.MUTE, by=people["alice"], channel="api", until=NOW + MAX_MUTE
    )
    assert incident.muted_until == NOW + MAX_MUTE


def test_api_keeps_the_one_mute_limit(token_client, incident):
    bot = token_client("act", "read")
    url = f"/api/v1/incidents/{incident.pk}/mute/"
    too_far = (NOW + MAX_MUTE + timedelta(minutes=1)).isoformat()
    response = bot.post(url, {"by": "alice", "until": too_far}, format="json")
    assert response.status_code == 400 and "90 days" in response.content.decode()
    minutes = MAX_MUTE // timedelta(minutes=1)
    assert bot.post(url, {"by": "alice", "minutes": minutes + 1}).status_code == 400
    assert bot.post(url, {"by": "alice", "minutes": minutes}).status_code == 200


def test_matrix_keeps_the_one_mute_limit():
    assert commands.duration("60d") == timedelta(days=60)  # over the old 30-day cap
    assert commands.duration("90d") == MAX_MUTE
    assert commands.duration("91d") is None
    assert commands.duration("13w") is None  # 91 days


def test_email_links_keep_the_one_mute_limit(incident, people):
    minutes = MAX_MUTE // timedelta(minutes=1)
    assert links.make_token(incident.pk, people["alice"].pk, "mute", minutes)
    with pytest.raises(ValueError, match="Mute minutes"):
        links.make_token(incident.pk, people["alice"].pk, "mute", minutes + 1)


def test_chat_words_the_new_actions_and_their_refusals(incident, people):
    alice, bob = people["alice"], people["bob"]
    assert act("note", incident, alice, text="  on it ")[1] == f"📝 Alice on #{incident.pk}: on it"
    assert act("note", incident, alice, text=" ") == (
        False,
        f"Cannot note on #{incident.pk}: A note needs some text.",
    )
    bob.active = False
    bob.save()
    refused = act("responder", incident, alice, to=bob)
    assert refused == (
        False,
        f"Cannot add a responder to #{incident.pk}: Add an active person or a team.",
    )
    done, text = act("reassign", incident, alice, to=people["carol"])
    assert (done, text) == (True, f"👉 Alice reassigned #{incident.pk} to Carol, who is paged now.")
    lifecycle.perform(incident, Action.RESOLVE, by=alice, channel="api")
    assert act("escalate", incident, alice)[1].startswith(
        f"Cannot escalate #{incident.pk}: it is resolved"
    )
