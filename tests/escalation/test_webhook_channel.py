"""The webhook channel against a real HTTP server on loopback."""

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from escalation import selectors
from escalation.channels import ChannelError, get, http, payload
from escalation.channels.webhook import WebhookChannel, secret, verify
from escalation.models import Contact, Incident, Notification, Responder
from escalation.serializers import IncidentSerializer
from tests.http_receiver import HttpReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_private(settings):
    """The receivers here listen on loopback, which webhooks refuse by default."""
    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def incident(db):
    return Incident.objects.create(
        dedup_key="zuul:standards:scs-check-gx-scs-main",
        source="zuul",
        repo="SovereignCloudStack/standards",
        job="scs-check-gx-scs-main",
        result="FAILURE",
        summary="Build failed.",
        occurrences=4,
    )


def hook(incident, url, kind="page", **fields):
    return Notification.objects.create(
        incident=incident,
        key=f"{incident.pk}:0:1:2:webhook:{url}",
        kind=kind,
        channel="webhook",
        address=url,
        step=1,
        round=0,
        ping=2,
        **fields,
    )


def test_posts_the_incident_signed_with_the_secret(settings, receiver, incident):
    settings.ONCALL_WEBHOOK_SECRET = "s3cret"
    notification = hook(incident, receiver.url("/hook"))

    delivery = WebhookChannel().send([notification])

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "oncall"
    assert request.headers["Idempotency-Key"] == notification.key
    assert delivery.external_id == notification.key
    body = request.json()
    assert body["event"] == "page"
    assert body["notification"] == {"id": notification.pk, "step": 1, "round": 0, "ping": 2}
    assert body["incident"]["id"] == incident.pk
    assert body["incident"]["state"] == "open" and body["incident"]["occurrences"] == 4
    assert body["incident"]["repo"] == "SovereignCloudStack/standards"

    stamp, signature = request.headers["X-Oncall-Timestamp"], request.headers["X-Oncall-Signature"]
    assert abs(int(stamp) - time.time()) < 60
    assert signature.startswith("sha256=")
    assert verify(request.body, stamp, signature, "s3cret")
    assert not verify(request.body + b" ", stamp, signature, "s3cret")
    assert not verify(request.body, str(int(stamp) + 1), signature, "s3cret")
    assert not verify(request.body, stamp, signature, "other")
    assert not verify(request.body, stamp, signature, "s3cret", now=int(stamp) + 3600)


def test_without_a_configured_secret_one_is_derived_from_the_secret_key(
    settings, receiver, incident
):
    settings.ONCALL_WEBHOOK_SECRET = None
    WebhookChannel().send([hook(incident, receiver.url("/hook"))])
    request = receiver.requests[0]
    derived = secret()
    assert derived and derived != settings.SECRET_KEY
    assert verify(
        request.body,
        request.headers["X-Oncall-Timestamp"],
        request.headers["X-Oncall-Signature"],
        derived,
    )
    settings.SECRET_KEY = "another key"
    assert secret() != derived


def test_the_registry_serves_the_webhook_and_email_channels():
    assert get("webhook").aggregates is False
    assert get("email").aggregates is True


def test_a_500_is_retried_and_the_retry_gets_through(receiver, incident):
    receiver.reply(500).reply(200)
    notification = hook(incident, receiver.url("/hook"))

    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([notification])
    assert error.value.permanent is False
    WebhookChannel().send([notification])

    first, second = receiver.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


def test_a_429_is_retried_after_its_retry_after(receiver, incident):
    receiver.reply(429, headers={"Retry-After": "7"})
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, receiver.url("/hook"))])
    assert error.value.permanent is False
    assert error.value.retry_after == 7


def test_a_503_with_an_http_date_retry_after(receiver, incident):
    later = datetime.now(UTC) + timedelta(seconds=120)
    receiver.reply(503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, receiver.url("/hook"))])
    assert error.value.permanent is False
    assert 100 < error.value.retry_after <= 120


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_client_error_is_permanent(receiver, incident, status):
    receiver.reply(status, body=b'{"error": "no such hook"}')
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, receiver.url("/hook"))])
    assert error.value.permanent is True
    assert str(status) in str(error.value)


def test_a_redirect_is_not_followed_and_is_permanent(receiver, incident):
    receiver.reply(302, headers={"Location": receiver.url("/elsewhere")})
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, receiver.url("/hook"))])
    assert error.value.permanent is True
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_a_receiver_slower_than_the_timeout_is_retried(receiver, incident):
    receiver.reply(200, delay=1.5)
    with pytest.raises(ChannelError) as error:
        WebhookChannel(timeout=0.3).send([hook(incident, receiver.url("/hook"))])
    assert error.value.permanent is False


def test_a_receiver_that_is_down_is_retried(incident):
    with HttpReceiver() as gone:
        url = gone.url("/hook")
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, url)])
    assert error.value.permanent is False


@pytest.mark.parametrize("address", ["", "ftp://example.org/hook", "file:///etc/passwd", "http://"])
def test_an_address_that_is_no_http_url_is_permanent(incident, address):
    with pytest.raises(ChannelError) as error:
        WebhookChannel().send([hook(incident, address)])
    assert error.value.permanent is True


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Thu, 26 Nov 2026 12:01:00 GMT", 60.0),
        ("Thu, 26 Nov 2026 11:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, seconds):
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert http.parse_retry_after(value, now=now) == seconds


def test_the_http_client_returns_status_headers_and_body(receiver):
    receiver.reply(201, headers={"X-Thing": "1"}, body=json.dumps({"ok": True}).encode())
    response = http.request("PUT", receiver.url("/x"), body=b"{}", timeout=2)
    assert (response.status, response.headers["X-Thing"], response.text()) == (
        201,
        "1",
        '{"ok": true}',
    )
    assert receiver.requests[0].headers["User-Agent"] == "oncall"


def test_the_http_client_retries_when_asked_and_the_wait_is_short(receiver):
    receiver.reply(503, headers={"Retry-After": "0"}).reply(200)
    assert http.request("GET", receiver.url("/"), retries=1).status == 200
    receiver.reply(429, headers={"Retry-After": "60"})
    assert http.request("GET", receiver.url("/"), retries=3, max_wait=1).status == 429
    assert len(receiver.requests) == 3


@pytest.mark.parametrize("state", ["open", "claimed", "resolved"])
def test_the_webhook_renders_the_incident_exactly_as_the_api_does(repo, people, state):
    """The channel's plain renderer stays field for field the REST serializer's output."""
    now = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    contact = Contact.objects.create(slug="provider", name="Provider", email="p@example.org")
    incident = Incident.objects.create(
        dedup_key="k",
        source="zuul",
        repo=repo.name,
        repo_ref=repo,
        job="scs-check",
        result="FAILURE",
        labels={"cloud": "gx-scs"},
        policy={"name": "Standard", "steps": [{"wait_seconds": 0}]},
        next_escalation_at=now + timedelta(minutes=5),
        muted_until=now + timedelta(hours=1, microseconds=7),
        state=state,
        claimed_by=people["alice"] if state == "claimed" else None,
        claimed_at=now if state == "claimed" else None,
        resolved_by=people["bob"] if state == "resolved" else None,
        resolved_at=now if state == "resolved" else None,
    )
    incident.forwarded_to.add(contact)
    Responder.objects.create(incident=incident, person=people["carol"], added_by=people["bob"])
    Responder.objects.create(incident=incident, team=repo.team, added_at=now)
    context = {"now": now, "responsible": selectors.responsible([repo], now)}
    expected = IncidentSerializer(incident, context=context).data
    rendered = payload.incident(incident, now)
    assert rendered["responsible"]  # the rotation's people are there to compare
    assert len(rendered["responders"]) == 2  # and the responders
    assert json.loads(json.dumps(rendered, cls=DjangoJSONEncoder)) == json.loads(
        json.dumps(expected, cls=DjangoJSONEncoder)
    )
