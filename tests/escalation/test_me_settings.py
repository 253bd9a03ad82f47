"""Self-service on /me/: my time zone, e-mail address and rules. A new e-mail address
is used for pages only once confirmed by the signed link mailed to it (a real SMTP
server, aiosmtpd); an admin's change counts at once."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import engine
from escalation.ingest import Report
from escalation.models import ContactChange, EscalationPolicy, Notification, NotificationRules
from escalation.services import ingestion
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LINK = re.compile(r"https://oncall\.example\.org(/me/confirm/[^/\s]+/)")


@pytest.fixture
def alice(client, people, django_user_model, settings):
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    user = django_user_model.objects.create_user("alice", password="pw")
    person = people["alice"]
    person.user = user
    person.save()
    client.force_login(user)
    return person


@pytest.fixture
def smtp(settings):
    with use_smtp_server(settings) as server:
        yield server


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def page_alice() -> list[str]:
    """Open an incident whose policy pages alice; the addresses her page goes to."""
    policy = EscalationPolicy.objects.create(
        slug="p",
        name="P",
        is_default=True,
        steps=[{"wait_seconds": 0, "notify": [{"type": "person", "person": "alice"}]}],
    )
    report = Report(source="zuul", status="failure", repo="x/y", job=f"j{policy.pk}")
    ingestion.accept([report])
    engine.sweep()
    return list(
        Notification.objects.filter(person__handle="alice").values_list("address", flat=True)
    )


def test_me_shows_my_addresses_and_rules_forms(client, alice):
    response = client.get("/me/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="email" id="me-email" value="alice@example.org"' in html
    assert 'name="page-0-channel"' in html and 'name="quiet-start"' in html


def test_time_zone_changes_at_once(client, alice):
    response = client.post("/me/profile/", {"timezone": "Europe/Berlin"}, follow=True)
    alice.refresh_from_db()
    assert alice.timezone == "Europe/Berlin"
    assert "Time zone set to Europe/Berlin." in messages_of(response)
    response = client.post("/me/profile/", {"timezone": "Mars/Olympus"}, follow=True)
    alice.refresh_from_db()
    assert alice.timezone == "Europe/Berlin"
    assert any("not a time zone" in m for m in messages_of(response))


def test_a_new_email_is_used_for_pages_only_after_the_mailed_link_is_confirmed(client, alice, smtp):
    response = client.post("/me/profile/", {"email": "alice@new.example.org"}, follow=True)
    assert "We mailed a confirmation link to alice@new.example.org" in messages_of(response)[0]
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"  # not yet
    assert ContactChange.objects.get(person=alice).value == "alice@new.example.org"
    assert 'data-pending="email"' in client.get("/me/").content.decode()
    [mail] = smtp.messages
    assert mail["To"] == "alice@new.example.org"
    path = LINK.search(mail.get_content()).group(1)
    assert page_alice() == ["alice@example.org"]  # pages keep the confirmed address

    client.logout()  # the link works without a login: it proves the mailbox
    shown = client.get(path)
    assert shown.status_code == 200 and b"Use alice@new.example.org for pages?" in shown.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"  # a GET (a mail scanner) confirms nothing
    done = client.post(path)
    assert done.status_code == 200
    alice.refresh_from_db()
    assert alice.email == "alice@new.example.org"
    assert not ContactChange.objects.exists()
    assert client.post(path).status_code == 400  # used up


def test_a_tampered_or_expired_link_confirms_nothing(client, alice, smtp):
    with time_machine.travel(NOW, tick=False) as clock:
        client.post("/me/profile/", {"email": "alice@new.example.org"})
        path = LINK.search(smtp.messages[0].get_content()).group(1)
        assert client.post(path[:-3] + "xx/").status_code == 400
        clock.shift(timedelta(days=1, seconds=1))
        assert client.post(path).status_code == 400
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_a_bad_address_is_refused_and_nothing_is_mailed(client, alice, smtp):
    response = client.post("/me/profile/", {"email": "not-an-address"}, follow=True)
    assert any("not a valid e-mail address" in m for m in messages_of(response))
    assert not ContactChange.objects.exists() and smtp.messages == []


def test_matrix_id_cannot_be_confirmed_without_matrix(client, alice, settings):
    settings.MATRIX_HOMESERVER = ""
    response = client.post("/me/profile/", {"matrix_id": "@alice2:example.org"}, follow=True)
    assert any("Matrix is not configured" in m for m in messages_of(response))
    alice.refresh_from_db()
    assert alice.matrix_id == "@alice:example.org" and not ContactChange.objects.exists()


def test_an_admin_sets_an_address_at_once(admin_api, alice):
    response = admin_api.patch(
        "/api/v1/people/alice/", {"email": "a@ops.example.org"}, format="json"
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.email == "a@ops.example.org" and not ContactChange.objects.exists()


def test_rules_form_saves_what_the_api_would(client, alice, settings):
    settings.MATRIX_HOMESERVER, settings.MATRIX_ACCESS_TOKEN = "https://m.example.org", "x"
    form = {
        "page-0-channel": "matrix_dm",
        "page-0-delay": "0",
        "page-1-channel": "email",
        "page-1-delay": "120",
        "page-2-channel": "webhook",
        "page-2-delay": "300",
        "page-2-target": "https://ntfy.example.org/alice",
        "page-2-important": "on",
        "repings-same": "on",
        "quiet-start": "22:00",
        "quiet-end": "07:00",
    }
    response = client.post("/me/rules/", form, follow=True)
    assert "Notification rules saved." in messages_of(response)
    stored = NotificationRules.objects.get(person=alice)
    assert [(r["channel"], r["delay_seconds"], r["important_only"]) for r in stored.rules] == [
        ("matrix_dm", 0, False),
        ("email", 120, False),
        ("webhook", 300, True),
    ]
    assert stored.repings is None and str(stored.quiet_start) == "22:00:00"
    html = client.get("/me/").content.decode()
    assert 'value="https://ntfy.example.org/alice"' in html


def test_rules_form_errors_name_the_row_and_save_nothing(client, alice):
    form = {"page-0-channel": "webhook", "page-0-delay": "soon", "repings-same": "on"}
    response = client.post("/me/rules/", form, follow=True)
    shown = messages_of(response)
    assert any(m.startswith("rules[0].delay_seconds:") for m in shown)
    assert any(m.startswith("rules[0].target:") for m in shown)
    assert not NotificationRules.objects.exists()


def test_saving_the_form_again_keeps_the_change_waiting_and_sends_nothing_new(client, alice, smtp):
    client.post("/me/profile/", {"email": "alice@new.example.org"})
    form = {"timezone": "Europe/Berlin", "email": "alice@example.org", "matrix_id": ""}
    client.post("/me/profile/", {**form, "matrix_id": alice.matrix_id})
    assert ContactChange.objects.get(person=alice).value == "alice@new.example.org"
    response = client.post("/me/profile/", {"email": "alice@new.example.org"}, follow=True)
    assert "alice@new.example.org still waits for your confirmation." in messages_of(response)
    assert len(smtp.messages) == 1


def test_a_refused_confirmation_mail_leaves_nothing_waiting(client, alice, smtp):
    smtp.refuse["alice@new.example.org"] = "550 5.1.1 No such user"
    response = client.post("/me/profile/", {"email": "alice@new.example.org"}, follow=True)
    assert any("could not be sent" in m for m in messages_of(response))
    assert not ContactChange.objects.exists()
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"
