"""The e-mail channel against a real SMTP server (aiosmtpd on loopback)."""

import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing

from escalation import links
from escalation.channels import ChannelError
from escalation.channels.email import EmailChannel
from escalation.models import Contact, Incident, Installation, Notification
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BASE = "https://oncall.example.org"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def smtp(settings):
    settings.ONCALL_BASE_URL = BASE
    settings.DEFAULT_FROM_EMAIL = "oncall@example.org"
    with use_smtp_server(settings) as server:
        yield server


def make_incident(**changes) -> Incident:
    fields = {
        "dedup_key": f"zuul:{changes.get('job', 'scs-check-gx-scs-main')}",
        "source": "zuul",
        "repo": "SovereignCloudStack/standards",
        "job": "scs-check-gx-scs-main",
        "pipeline": "periodic-hourly",
        "branch": "main",
        "subject": "gx-scs",
        "result": "FAILURE",
        "category": "job",
        "summary": "Build failed.",
        "url": "https://zuul.example.org/t/scs/build/1",
        "log_url": "https://logs.example.org/1/",
        "occurrences": 3,
        "first_seen": NOW - timedelta(hours=2),
        "last_seen": NOW - timedelta(minutes=5),
        "workflow": "https://docs.example.org/runbooks/standards",
    }
    return Incident.objects.create(**{**fields, **changes})


def notify(incident, address, *, person=None, kind="page", ping=0, channel="email", **extra):
    return Notification.objects.create(
        incident=incident,
        key=f"{incident.pk}:{kind}:{ping}:{channel}:{address}",
        kind=kind,
        channel=channel,
        address=address,
        person=person,
        ping=ping,
        **extra,
    )


def salt():
    return Installation.objects.get().salt


def bodies(message):
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


def links_in(text):
    return [word for word in text.split() if word.startswith(f"{BASE}/act/")]


def signed(url):
    action, token = urlsplit(url).path.strip("/").split("/")[1:3]
    return action, signing.loads(token, salt=links.SALT)


def test_page_carries_the_incident_and_action_links(smtp, people):
    alice, bob = people["alice"], people["bob"]
    incident = make_incident(category="compliance")
    page = notify(incident, alice.email, person=alice)
    notify(incident, bob.email, person=bob)
    notify(incident, "!room:example.org", channel="matrix")
    notify(incident, "https://bot.example.org/hook?token=s3cret", channel="webhook")

    delivery = EmailChannel().send([page])

    [message] = smtp.messages
    assert message["To"] == "Alice <alice@example.org>"
    assert message["From"] == "oncall@example.org"
    subject = f"[oncall] #{incident.pk} FAILURE SovereignCloudStack/standards scs-check-gx-scs-main"
    assert message["Subject"] == subject
    assert message["Message-ID"] == f"<oncall.n{page.pk}.{salt()}@oncall.example.org>"
    assert delivery.external_id == message["Message-ID"]
    assert message["In-Reply-To"] is None
    text, html = bodies(message)
    for body in (text, html):
        for value in (
            "SovereignCloudStack/standards",
            "scs-check-gx-scs-main",
            "periodic-hourly",
            "main",
            "FAILURE",
            "Build failed.",
            "https://zuul.example.org/t/scs/build/1",
            "https://logs.example.org/1/",
            "https://docs.example.org/runbooks/standards",
            "compliance",
            "2026-11-26 10:00",  # first seen (alice's time zone is UTC)
            "2026-11-26 11:55",  # last seen
            "Bob",  # also paged
            "Matrix room !room:example.org",
            "a webhook",
        ):
            assert value in body, value
        assert "s3cret" not in body
        assert "Occurrences" in body and "3" in body
    assert '<a href="https://docs.example.org/runbooks/standards"' in html
    assert "alice@example.org" not in text.split("Also paged:")[1].splitlines()[0]

    urls = links_in(text)
    assert [signed(u)[0] for u in urls] == ["claim", "mute", "mute", "resolve"]
    assert [signed(u)[1]["m"] for u in urls] == [None, 60, 1440, None]
    assert {signed(u)[1]["p"] for u in urls} == {alice.pk}
    assert {signed(u)[1]["i"] for u in urls} == {incident.pk}
    for url in urls:
        assert f'href="{url}"' in html


def test_times_are_shown_in_the_paged_persons_time_zone(smtp, people):
    alice = people["alice"]
    alice.timezone = "Europe/Berlin"
    alice.save()
    EmailChannel().send([notify(make_incident(), alice.email, person=alice)])
    text, html = bodies(smtp.messages[0])
    assert "2026-11-26 11:00 CET" in text and "2026-11-26 11:00 CET" in html


def test_html_escapes_incident_data_and_text_keeps_it(smtp, people):
    incident = make_incident(
        summary="<script>alert('x')</script> & more",
        job='job"><img src=x onerror=alert(1)>',
        workflow="Restart the <b>runner</b>, then re-check.",
    )
    EmailChannel().send([notify(incident, "ops@example.org")])
    text, html = bodies(smtp.messages[0])
    assert "<script>" not in html and "<img" not in html and "<b>runner" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "Restart the &lt;b&gt;runner&lt;/b&gt;" in html
    assert "<script>alert('x')</script> & more" in text
    assert "Restart the <b>runner</b>, then re-check." in text


def test_unsafe_urls_never_become_links(smtp):
    incident = make_incident(url="javascript:alert(1)", workflow="javascript:alert(2)")
    EmailChannel().send([notify(incident, "ops@example.org")])
    text, html = bodies(smtp.messages[0])
    assert 'href="javascript' not in html
    assert "javascript:alert(2)" in text  # shown as text, not as a link


def test_a_page_to_an_address_without_a_person_has_no_action_links(smtp):
    EmailChannel().send([notify(make_incident(), "ops@example.org")])
    text, html = bodies(smtp.messages[0])
    assert links_in(text) == [] and "/act/" not in html


def test_forward_to_a_provider_contact_speaks_to_an_outside_party(smtp, people):
    contact = Contact.objects.create(slug="csp-gx", name="GX ops", email="ops@gx.example")
    incident = make_incident(job="openstack-scs-flavor-check")
    incident.forwarded_to.add(contact)
    notify(incident, people["alice"].email, person=people["alice"])
    forward = notify(incident, contact.email, kind="forward")

    EmailChannel().send([forward])

    [message] = smtp.messages
    text, html = bodies(message)
    for body in (text, html):
        assert "A compliance check of your cloud failed" in body
        assert "https://zuul.example.org/t/scs/build/1" in body
        assert "Alice" not in body  # who was paged internally is not theirs to know
    assert links_in(text) == [] and "/act/" not in html


def test_forward_resolved_says_it_recovered_in_the_same_thread(smtp):
    incident = make_incident()
    forward = notify(incident, "ops@gx.example", kind="forward")
    EmailChannel().send([forward])
    Incident.objects.filter(pk=incident.pk).update(state="resolved", resolved_at=NOW)
    incident.refresh_from_db()
    done = notify(incident, "ops@gx.example", kind="forward_resolved")

    EmailChannel().send([done])

    first, second = smtp.messages
    text, html = bodies(second)
    assert "has recovered" in text and "has recovered" in html
    assert second["Subject"] == first["Subject"]
    assert second["In-Reply-To"] == first["Message-ID"] == second["References"]
    assert links_in(text) == []


def test_several_incidents_for_one_address_go_out_as_one_message(smtp, people):
    alice = people["alice"]
    incidents = [make_incident(job=f"job-{n}") for n in range(3)]
    batch = [notify(i, alice.email, person=alice, batch="b1") for i in incidents]

    delivery = EmailChannel().send(batch)

    [message] = smtp.messages
    assert message["Subject"] == "[oncall] Digest: 3 incidents need you"
    assert message["Message-ID"] == f"<oncall.n{batch[0].pk}.{salt()}@oncall.example.org>"
    assert delivery.external_id == message["Message-ID"]
    assert message["In-Reply-To"] is None
    text, html = bodies(message)
    for incident in incidents:
        assert f"#{incident.pk} FAILURE SovereignCloudStack/standards {incident.job}" in text
        assert incident.job in html
    claims = [signed(u)[1]["i"] for u in links_in(text) if signed(u)[0] == "claim"]
    assert claims == [i.pk for i in incidents]
    assert len(links_in(text)) == 12


def test_a_repage_threads_under_the_first_page_with_the_same_subject(smtp, people):
    alice = people["alice"]
    incident = make_incident()
    page = notify(incident, alice.email, person=alice)
    EmailChannel().send([page])
    repage = notify(incident, alice.email, person=alice, kind="repage", ping=1)
    again = notify(incident, alice.email, person=alice, kind="repage", ping=2)

    EmailChannel().send([repage])
    EmailChannel().send([again])

    first, second, third = smtp.messages
    assert first["In-Reply-To"] is None and first["References"] is None
    assert second["Subject"] == third["Subject"] == first["Subject"]
    for later in (second, third):
        assert later["In-Reply-To"] == first["Message-ID"]
        assert later["References"] == first["Message-ID"]
    assert len({m["Message-ID"] for m in smtp.messages}) == 3
    assert "Still unclaimed" in bodies(second)[0]


def test_a_thread_root_sent_in_a_batch_is_referenced_by_its_real_message_id(smtp, people):
    alice = people["alice"]
    one, two = make_incident(job="a"), make_incident(job="b")
    batch = [notify(one, alice.email, person=alice), notify(two, alice.email, person=alice)]
    delivery = EmailChannel().send(batch)
    Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
        external_id=delivery.external_id
    )
    repage = notify(two, alice.email, person=alice, kind="repage", ping=1)

    EmailChannel().send([repage])

    assert smtp.messages[1]["In-Reply-To"] == delivery.external_id


def test_server_down_is_not_permanent_and_the_retry_gets_through(smtp, people):
    page = notify(make_incident(), people["alice"].email, person=people["alice"])
    smtp.stop()
    with pytest.raises(ChannelError) as error:
        EmailChannel().send([page])
    assert error.value.permanent is False

    smtp.start()  # same port
    EmailChannel().send([page])
    assert len(smtp.messages) == 1


def test_a_server_that_never_answers_times_out_not_permanently(settings, people):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections in the backlog, never greets
        settings.EMAIL_HOST, settings.EMAIL_PORT = silent.getsockname()
        settings.EMAIL_TIMEOUT = 0.3
        with pytest.raises(ChannelError) as error:
            EmailChannel().send([notify(make_incident(), "ops@example.org")])
    assert error.value.permanent is False


def test_recipient_refused_with_550_is_permanent(smtp):
    smtp.refuse["gone@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(ChannelError) as error:
        EmailChannel().send([notify(make_incident(), "gone@example.org")])
    assert error.value.permanent is True
    assert smtp.messages == []


def test_recipient_refused_with_450_is_retried(smtp):
    smtp.refuse["busy@example.org"] = "450 4.2.1 Mailbox busy, try later"
    with pytest.raises(ChannelError) as error:
        EmailChannel().send([notify(make_incident(), "busy@example.org")])
    assert error.value.permanent is False


@pytest.mark.parametrize("address", ["", "not-an-address", "a@b.org\nBcc: x@evil.example"])
def test_missing_or_invalid_address_is_permanent(smtp, address):
    with pytest.raises(ChannelError) as error:
        EmailChannel().send([notify(make_incident(), address)])
    assert error.value.permanent is True
    assert smtp.messages == []


def test_message_id_falls_back_to_the_sender_domain(settings, smtp):
    settings.ONCALL_BASE_URL = ""
    settings.DEFAULT_FROM_EMAIL = "On call <oncall@mail.example.net>"
    page = notify(make_incident(), "ops@example.org")
    EmailChannel().send([page])
    assert smtp.messages[0]["Message-ID"] == f"<oncall.n{page.pk}.{salt()}@mail.example.net>"


def test_a_digest_says_it_is_storm_protection(smtp, people, settings):
    settings.ONCALL_EMAIL_BURST, settings.ONCALL_EMAIL_BURST_WINDOW_SECONDS = 3, 30
    alice = people["alice"]
    batch = [notify(make_incident(job=f"job-{n}"), alice.email, person=alice) for n in range(2)]
    EmailChannel().send(batch)
    text, html = bodies(smtp.messages[0])
    for body in (text, html):
        assert "more than 3 messages within 30 seconds" in " ".join(body.lower().split())
        assert "storm protection" in body


def test_message_ids_never_repeat_after_a_database_reset(smtp):
    page = notify(make_incident(), "ops@example.org")
    EmailChannel().send([page])
    number = page.pk
    # A reset database: every row gone, row numbers start again.
    Notification.objects.all().delete()
    Incident.objects.all().delete()
    Installation.objects.all().delete()
    again = notify(make_incident(), "ops@example.org")
    Notification.objects.filter(pk=again.pk).update(id=number)
    again.pk = number

    EmailChannel().send([again])

    first, second = (m["Message-ID"] for m in smtp.messages)
    assert first.startswith(f"<oncall.n{number}.") and second.startswith(f"<oncall.n{number}.")
    assert first != second
