"""Pages by Matrix direct message, against the real Synapse (and a real SMTP server):
the bot creates the DM room on the first page (``is_direct``, the person invited, who
reads the page as a Matrix user), reuses it for the next one, the e-mail rule follows
after its delay, and a claim stops what is still to come. A new Matrix ID entered on
/me/ is confirmed by the code the bot sends in such a DM."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from escalation.models import ContactChange, MatrixDirectRoom, Notification, NotificationRules
from escalation.services import lifecycle
from tests.matrix.chatops import open_incident, work
from tests.processes import wait_until
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db(transaction=True)

DM_THEN_MAIL = [
    {"channel": "matrix_dm", "delay_seconds": 0, "target": "", "important_only": False},
    {"channel": "email", "delay_seconds": 120, "target": "", "important_only": False},
]


def texts(user, room_id: str) -> list[str]:
    return [
        e["content"].get("body", "")
        for e in reversed(user.messages(room_id))
        if e["type"] == "m.room.message"
    ]


def test_dm_at_once_mail_after_two_minutes_room_reused_claim_stops_the_rest(
    team, accounts, bot, clock, settings
):
    alice = accounts["alice"]
    NotificationRules.objects.create(person=team.alice, rules=DM_THEN_MAIL)
    with use_smtp_server(settings) as smtp:
        first = open_incident(1)
        dm = MatrixDirectRoom.objects.get(user_id=alice.user_id)
        # The bot made a direct room and invited alice; she joins and reads the page.
        assert alice.join(dm.room_id) == dm.room_id
        invite = [
            e
            for e in alice.messages(dm.room_id)
            if e["type"] == "m.room.member" and e["state_key"] == alice.user_id
        ]
        assert any(
            e["content"].get("membership") == "invite" and e["content"].get("is_direct")
            for e in invite
        )
        direct = bot.client("GET", f"/user/{bot.user_id}/account_data/m.direct")
        assert direct[alice.user_id] == [dm.room_id]
        [page] = texts(alice, dm.room_id)
        assert page.startswith(f"You are paged: FAILURE · {team.repo.name}")
        assert f"#{first.pk}" in page and "Claim: https://oncall.example.org/act/claim/" in page
        assert smtp.messages == []  # the e-mail waits for its 2 minutes
        # Not in the incident's room: her rules replace the mention.
        assert not Notification.objects.filter(person=team.alice, channel="matrix").exists()

        clock.shift(timedelta(seconds=120))
        work()
        wait_until(lambda: len(smtp.messages) == 1, 10, "the e-mail after 2 minutes")
        assert smtp.messages[0]["To"] == "Alice <alice@example.org>"

        rooms = bot.client("GET", "/joined_rooms")["joined_rooms"]
        second = open_incident(2, job="scs-check-other")
        assert MatrixDirectRoom.objects.count() == 1
        assert any(f"#{second.pk}" in t for t in texts(alice, dm.room_id))  # the same room
        assert bot.client("GET", "/joined_rooms")["joined_rooms"] == rooms  # and no new one
        clock.shift(timedelta(seconds=60))
        lifecycle.claim(second, team.alice, "api")
        clock.shift(timedelta(seconds=60))
        work()
        assert len(smtp.messages) == 1  # the claim stopped the second e-mail
    mail = Notification.objects.get(incident=second, channel="email", person=team.alice)
    assert mail.status == "failed" and mail.error.startswith("cancelled")
    assert len(texts(alice, dm.room_id)) == 2


def test_a_new_matrix_id_is_confirmed_by_the_code_the_bot_sends(
    synapse, bot, client, django_user_model, settings
):
    from rotations.models import Person

    erin = synapse.register("erin")
    user = django_user_model.objects.create_user("erin", password="pw")
    person = Person.objects.create(handle="erin", name="Erin", user=user)
    client.force_login(user)
    client.post("/me/profile/", {"matrix_id": erin.user_id})
    person.refresh_from_db()
    assert person.matrix_id == ""  # not before she confirms
    dm = MatrixDirectRoom.objects.get(user_id=erin.user_id)
    erin.join(dm.room_id)
    [text] = texts(erin, dm.room_id)
    code = re.search(r"code for on-call pages: (\d{6})", text).group(1)
    wrong = "000000" if code != "000000" else "111111"
    client.post("/me/matrix/confirm/", {"code": wrong})
    person.refresh_from_db()
    assert person.matrix_id == "" and ContactChange.objects.get().attempts == 1
    client.post("/me/matrix/confirm/", {"code": code})
    person.refresh_from_db()
    assert person.matrix_id == erin.user_id and not ContactChange.objects.exists()
