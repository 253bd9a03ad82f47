"""Personal notification rules (docs/notifications.md): the API, what the engine makes
of them, delayed rows sent by delivery through a real SMTP server (aiosmtpd), quiet
hours in the person's time zone across a DST change, important policies."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from escalation import delivery, engine
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification, NotificationRules
from escalation.rules import in_quiet_hours
from escalation.services import ingestion, lifecycle
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
REPORT = Report(
    source="zuul",
    status="failure",
    repo="SovereignCloudStack/standards",
    job="scs-check-gx-scs-main",
    summary="Build failed.",
)
DM_THEN_MAIL = [
    {"channel": "matrix_dm", "delay_seconds": 0},
    {"channel": "email", "delay_seconds": 120},
]


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def alice_policy(repo, people):
    """Alice is paged, and the ops list in the same step; re-pings every 10 min."""
    policy = EscalationPolicy.objects.create(
        slug="alice",
        name="Alice",
        steps=[
            {
                "wait_seconds": 0,
                "notify": [
                    {"type": "person", "person": "alice"},
                    {"type": "email", "address": "ops@example.org"},
                ],
                "repeat": 1,
                "repeat_every_seconds": 600,
            }
        ],
    )
    repo.policy = policy
    repo.save()
    return policy


def set_rules(person, rules, *, repings=None, quiet=None):
    return NotificationRules.objects.create(
        person=person,
        rules=[{"target": "", "important_only": False, **r} for r in rules],
        repings=repings,
        quiet_start=quiet[0] if quiet else None,
        quiet_end=quiet[1] if quiet else None,
    )


def open_incident() -> Incident:
    outcome = ingestion.accept([REPORT]).outcomes[0]
    return Incident.objects.get(pk=outcome.incident.pk)


def rows(**filters):
    found = Notification.objects.filter(**filters).order_by("pk")
    return [(n.kind, n.channel, n.address, n.next_attempt_at) for n in found]


def details(incident):
    return list(incident.timeline.values_list("detail", flat=True))


# The API ---------------------------------------------------------------------------


@pytest.fixture
def matrix_on(settings):
    """Matrix configured (rules.parse only looks at the settings; nothing is sent here)."""
    settings.MATRIX_HOMESERVER = "https://matrix.example.org"
    settings.MATRIX_ACCESS_TOKEN = "unused"


def test_get_without_rules_is_the_default_document(token_client, people):
    client = token_client("read", person=people["alice"])
    response = client.get("/api/v1/people/alice/rules/")
    assert response.status_code == 200, response.content
    assert response.json() == {"rules": [], "repings": None, "quiet_hours": None}


def test_put_by_the_person_stores_and_returns_the_rules(token_client, people, matrix_on):
    client = token_client("read", person=people["alice"])
    document = {
        "rules": [
            {"channel": "matrix_dm", "delay_seconds": 0, "important_only": False},
            {"channel": "email", "delay_seconds": 120, "important_only": False},
            {
                "channel": "webhook",
                "delay_seconds": 300,
                "target": "https://ntfy.sh/alice-secret",
                "important_only": True,
            },
        ],
        "repings": [{"channel": "matrix_dm", "delay_seconds": 0, "important_only": False}],
        "quiet_hours": {"start": "22:00", "end": "07:00"},
    }
    response = client.put("/api/v1/people/alice/rules/", document, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["channel"] for r in body["rules"]] == ["matrix_dm", "email", "webhook"]
    assert body["rules"][2]["target"] == "https://ntfy.sh/alice-secret"
    assert body["repings"][0]["channel"] == "matrix_dm"
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert client.get("/api/v1/people/alice/rules/").json() == body
    stored = NotificationRules.objects.get(person=people["alice"])
    assert (stored.quiet_start, stored.quiet_end) == (time(22), time(7))
    # An empty list restores the default.
    response = client.put("/api/v1/people/alice/rules/", {"rules": []}, format="json")
    assert response.json() == {"rules": [], "repings": None, "quiet_hours": None}


def test_put_with_problems_is_400_naming_each_path(token_client, people, matrix_on):
    people["bob"].matrix_id = ""
    people["bob"].save()
    client = token_client("read", person=people["bob"])
    document = {
        "rules": [
            {"channel": "email", "delay_seconds": 0},
            {"channel": "pager", "delay_seconds": -5},
            {"channel": "webhook", "delay_seconds": 60},
            {"channel": "email", "delay_seconds": 0, "target": "someone@else.org"},
            {"channel": "matrix_dm", "delay_seconds": 0, "important_only": "yes"},
        ],
        "quiet_hours": {"start": "25:00", "end": "07:00"},
        "colour": "red",
    }
    response = client.put("/api/v1/people/bob/rules/", document, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {
        "rules[1].channel",
        "rules[1].delay_seconds",
        "rules[2].target",
        "rules[3].target",
        "rules[4].channel",  # bob has no confirmed Matrix ID
        "rules[4].important_only",
        "quiet_hours.start",
        "colour",
    }
    assert not NotificationRules.objects.exists()
    missing = client.put("/api/v1/people/bob/rules/", {"quiet_hours": None}, format="json")
    assert missing.status_code == 400
    assert "rules" in missing.json()["error"]["fields"]


def test_matrix_dm_rules_need_matrix_configured(token_client, people, settings):
    settings.MATRIX_HOMESERVER = ""
    client = token_client("read", person=people["alice"])
    document = {"rules": [{"channel": "matrix_dm", "delay_seconds": 0}]}
    response = client.put("/api/v1/people/alice/rules/", document, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "rules[0].channel": ["Matrix is not configured on this server."]
    }


def test_webhook_rule_to_a_private_address_is_refused(token_client, people):
    client = token_client("read", person=people["alice"])
    document = {"rules": [{"channel": "webhook", "delay_seconds": 0, "target": "ftp://x"}]}
    response = client.put("/api/v1/people/alice/rules/", document, format="json")
    assert response.status_code == 400
    assert "rules[0].target" in response.json()["error"]["fields"]


def test_others_get_403_and_admins_may_read_and_change(token_client, admin_api, people):
    bobs = token_client("read", "act", person=people["bob"])
    unbound = token_client("read", "act")
    document = {"rules": [{"channel": "email", "delay_seconds": 0}]}
    for client in (bobs, unbound):
        assert client.get("/api/v1/people/alice/rules/").status_code == 403
        response = client.put("/api/v1/people/alice/rules/", document, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert not NotificationRules.objects.exists()
    response = admin_api.put("/api/v1/people/alice/rules/", document, format="json")
    assert response.status_code == 200
    assert admin_api.get("/api/v1/people/alice/rules/").json()["rules"][0]["channel"] == "email"
    assert admin_api.get("/api/v1/people/nobody/rules/").status_code == 404


def test_a_session_changes_its_own_rules_only(client, people, django_user_model):
    user = django_user_model.objects.create_user("alice", password="pw")
    people["alice"].user = user
    people["alice"].save()
    client.force_login(user)
    document = '{"rules": [{"channel": "email", "delay_seconds": 30}]}'
    own = client.put("/api/v1/people/alice/rules/", document, content_type="application/json")
    assert own.status_code == 200, own.content
    other = client.put("/api/v1/people/bob/rules/", document, content_type="application/json")
    assert other.status_code == 403


# The engine --------------------------------------------------------------------------


def test_rules_page_dm_at_once_and_mail_two_minutes_later(clock, alice_policy, people):
    set_rules(people["alice"], DM_THEN_MAIL)
    incident = open_incident()
    engine.sweep()
    assert rows(person=people["alice"]) == [
        ("page", "matrix_dm", "@alice:example.org", NOW),
        ("page", "email", "alice@example.org", NOW + timedelta(seconds=120)),
    ]
    # The rules replace alice's defaults (no mention in the room); the list still gets its mail.
    assert rows(address="ops@example.org") == [("page", "email", "ops@example.org", NOW)]
    assert "step 1: paging alice (matrix_dm), alice (email in 120 s), ops@example.org (email)" in (
        details(incident)
    )


def test_a_person_without_rules_is_paged_as_before(clock, alice_policy, people):
    open_incident()
    engine.sweep()
    assert rows(person=people["alice"]) == [("page", "email", "alice@example.org", NOW)]


def test_repings_follow_their_own_list(clock, alice_policy, people):
    set_rules(
        people["alice"],
        [{"channel": "email", "delay_seconds": 0}],
        repings=[
            {"channel": "matrix_dm", "delay_seconds": 0, "target": "", "important_only": False}
        ],
    )
    open_incident()
    engine.sweep()
    clock.shift(timedelta(seconds=600))
    engine.sweep()
    found = [(kind, channel) for kind, channel, _, _ in rows(person=people["alice"])]
    assert found == [("page", "email"), ("repage", "matrix_dm")]


def test_delayed_mail_goes_out_when_due_and_not_before(clock, settings, alice_policy, people):
    set_rules(people["alice"], [{"channel": "email", "delay_seconds": 120}])
    with use_smtp_server(settings) as smtp:
        open_incident()
        engine.sweep()
        mail = Notification.objects.get(person=people["alice"])
        assert delivery.deliver(mail.pk) is None  # the task woke early: nothing sent
        clock.shift(timedelta(seconds=119))
        assert delivery.due_for_redelivery(NOW + timedelta(seconds=119), timedelta(0)) == [
            n.pk for n in Notification.objects.filter(address="ops@example.org")
        ]
        delivery.deliver(mail.pk)
        assert [m["To"] for m in smtp.messages] == []
        clock.shift(timedelta(seconds=1))
        # After a worker restart the sweep finds the due row in the database.
        due = delivery.due_for_redelivery(NOW + timedelta(seconds=120), timedelta(0))
        assert mail.pk in due
        delivery.deliver(mail.pk)
        assert [m["To"] for m in smtp.messages] == ["Alice <alice@example.org>"]
    mail.refresh_from_db()
    assert mail.status == "sent"


def test_a_claim_before_the_delay_stops_the_mail(clock, settings, alice_policy, people):
    set_rules(people["alice"], DM_THEN_MAIL)
    with use_smtp_server(settings) as smtp:
        incident = open_incident()
        engine.sweep()
        clock.shift(timedelta(seconds=60))
        lifecycle.claim(incident, people["alice"], "api")
        clock.shift(timedelta(seconds=60))
        mail = Notification.objects.get(person=people["alice"], channel="email")
        delivery.deliver(mail.pk)
        assert smtp.messages == []
    mail.refresh_from_db()
    assert mail.status == "failed" and mail.error.startswith("cancelled")


# Quiet hours and important policies ---------------------------------------------------

BERLIN = "Europe/Berlin"
NIGHT = (time(22), time(7))


@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (datetime(2026, 3, 28, 5, 30, tzinfo=UTC), True),  # 06:30 CET
        (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), False),  # 07:00 CET
        (datetime(2026, 3, 28, 20, 59, tzinfo=UTC), False),  # 21:59 CET
        (datetime(2026, 3, 28, 21, 0, tzinfo=UTC), True),  # 22:00 CET
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), True),  # 01:59 CET, before the change
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), True),  # 03:00 CEST, after it
        (datetime(2026, 3, 29, 4, 59, tzinfo=UTC), True),  # 06:59 CEST
        (datetime(2026, 3, 29, 5, 0, tzinfo=UTC), False),  # 07:00 CEST (06:00 CET would say quiet)
        (datetime(2026, 3, 29, 5, 30, tzinfo=UTC), False),  # 07:30 CEST
        (
            datetime(2026, 3, 29, 19, 30, tzinfo=UTC),
            False,
        ),  # 21:30 CEST (22:30 CET would say quiet)
        (datetime(2026, 3, 29, 20, 0, tzinfo=UTC), True),  # 22:00 CEST
    ],
)
def test_quiet_hours_follow_the_wall_clock_across_the_dst_change(at, quiet):
    assert in_quiet_hours(*NIGHT, BERLIN, at) is quiet


def test_a_daytime_window_does_not_wrap():
    noon = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    assert in_quiet_hours(time(12), time(13), BERLIN, noon)
    assert not in_quiet_hours(time(12), time(13), BERLIN, noon + timedelta(hours=1))


NIGHT_AT = datetime(2026, 3, 29, 4, 30, tzinfo=UTC)  # 06:30 CEST on the night of the change


def test_quiet_hours_skip_non_important_pages_and_others_still_get_theirs(alice_policy, people):
    people["alice"].timezone = BERLIN
    people["alice"].save()
    set_rules(people["alice"], [], quiet=NIGHT)  # default channels, quiet at night
    with time_machine.travel(NIGHT_AT, tick=False):
        incident = open_incident()
        engine.sweep()
    assert rows(person=people["alice"]) == []
    assert [a for _, _, a, _ in rows()] == ["ops@example.org"]
    entry = incident.timeline.get(kind="skipped")
    assert entry.detail == "step 1: skipped alice (quiet hours)"
    # At 07:00 CEST she is paged again (a re-ping).
    with time_machine.travel(NIGHT_AT + timedelta(seconds=1800), tick=False):
        Incident.objects.filter(pk=incident.pk).update(next_escalation_at=NIGHT_AT)
        engine.sweep()
    assert [k for k, _, _, _ in rows(person=people["alice"])] == ["repage"]


def test_important_policies_reach_through_quiet_hours_with_important_only_rules(
    alice_policy, people
):
    people["alice"].timezone = BERLIN
    people["alice"].save()
    set_rules(
        people["alice"],
        [
            {"channel": "email", "delay_seconds": 0},
            {
                "channel": "webhook",
                "delay_seconds": 0,
                "target": "https://ntfy.example.org/alice",
                "important_only": True,
            },
        ],
        quiet=NIGHT,
    )
    alice_policy.important = True
    alice_policy.save()
    with time_machine.travel(NIGHT_AT, tick=False):
        incident = open_incident()
        engine.sweep()
    assert [(c, a) for _, c, a, _ in rows(person=people["alice"])] == [
        ("email", "alice@example.org"),
        ("webhook", "https://ntfy.example.org/alice"),
    ]
    assert not incident.timeline.filter(kind="skipped").exists()
    assert "alice (webhook)" in " ".join(details(incident))
    assert "ntfy" not in " ".join(details(incident))  # the URL is alice's secret


def test_important_only_rules_are_left_out_for_ordinary_policies(clock, alice_policy, people):
    set_rules(
        people["alice"],
        [
            {"channel": "email", "delay_seconds": 0},
            {
                "channel": "webhook",
                "delay_seconds": 0,
                "target": "https://ntfy.example.org/alice",
                "important_only": True,
            },
        ],
    )
    open_incident()
    engine.sweep()
    assert [c for _, c, _, _ in rows(person=people["alice"])] == ["email"]


# A webhook rule: the person's own URL, through the webhook channel and its guard -------


@pytest.mark.parametrize("allow_private", [True, False])
def test_webhook_rule_posts_to_the_persons_url_only_where_allowed(
    clock, settings, alice_policy, people, allow_private
):
    from tests.http_receiver import HttpReceiver

    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = allow_private
    with HttpReceiver() as receiver:
        url = receiver.url("/ntfy/alice-topic")
        set_rules(people["alice"], [{"channel": "webhook", "delay_seconds": 0, "target": url}])
        incident = open_incident()
        engine.sweep()
        hook = Notification.objects.get(person=people["alice"])
        assert (hook.channel, hook.address) == ("webhook", url)
        delivery.deliver(hook.pk)
        hook.refresh_from_db()
        if allow_private:
            [request] = receiver.requests
            assert request.path == "/ntfy/alice-topic"
            assert request.json()["event"] == "page"
            assert request.json()["incident"]["id"] == incident.pk
            assert hook.status == "sent"
        else:  # loopback is refused unless ONCALL_WEBHOOK_ALLOW_PRIVATE is set
            assert receiver.requests == []
            assert hook.status == "failed"
            failed = incident.timeline.get(kind="notify_failed").detail
            assert "alice-topic" not in failed
