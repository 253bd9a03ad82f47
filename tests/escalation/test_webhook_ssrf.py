"""Webhooks reach public addresses only (issue 12 §4, SSRF): refused at configuration
when the URL names a non-public host, refused at send time after resolving the name,
unless ONCALL_WEBHOOK_ALLOW_PRIVATE is set; the timeline shows the host, never the
receiver's answer or the URL's secrets."""

import socket

import pytest

from escalation import delivery
from escalation.channels import ChannelError, http
from escalation.channels.webhook import WebhookChannel
from escalation.models import Incident, Notification, TimelineEntry
from tests.http_receiver import HttpReceiver

pytestmark = pytest.mark.django_db

# One URL per class of address an attacker would aim at; none is ever contacted.
REFUSED = [
    "http://127.0.0.1:6379/",  # loopback (Redis)
    "http://127.1.2.3/",
    "http://[::1]:8000/",
    "http://localhost:8000/admin/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6 (unique local)
    "http://10.0.0.1/",  # private
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.100.100.200/",  # shared address space (Alibaba metadata)
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://0.0.0.0:8000/",  # unspecified
    "http://[::]/",
    "http://240.0.0.1/",  # reserved
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",
]


@pytest.fixture
def incident(db):
    return Incident.objects.create(
        dedup_key="zuul:standards:check",
        source="zuul",
        repo="SovereignCloudStack/standards",
        job="check",
        result="FAILURE",
        summary="Build failed.",
    )


def hook(incident, url):
    return Notification.objects.create(
        incident=incident,
        key=f"{incident.pk}:webhook:{url}",
        kind="page",
        channel="webhook",
        address=url,
        step=1,
    )


@pytest.mark.parametrize("url", REFUSED)
def test_webhook_to_a_non_public_address_is_refused_permanently(incident, url):
    with pytest.raises(ChannelError) as error:
        WebhookChannel(timeout=0.5).send([hook(incident, url)])

    assert error.value.permanent is True
    assert "refused" in str(error.value)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "93.184.215.14"],
)
def test_public_addresses_pass_the_check(address):
    assert http.host_problem(address) is None


def test_loopback_receiver_gets_nothing_without_the_switch(incident):
    with HttpReceiver() as receiver:
        with pytest.raises(ChannelError) as error:
            WebhookChannel().send([hook(incident, receiver.url("/hook"))])
        assert receiver.requests == []
    assert error.value.permanent is True


def test_a_name_is_checked_on_the_addresses_it_resolves_to(incident):
    # The machine's own name is no blocked name, but resolves to a non-public address
    # (loopback or the container's private one): refused when connecting.
    name = socket.gethostname()
    assert http.host_problem(name) is None
    resolved = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    assert all(http.host_problem(ip) for ip in resolved), resolved
    with HttpReceiver() as receiver:
        url = receiver.url("/hook").replace("127.0.0.1", name)
        with pytest.raises(ChannelError) as error:
            WebhookChannel().send([hook(incident, url)])
        assert receiver.requests == []
    assert "resolves to" in str(error.value)


def test_with_the_switch_a_local_receiver_gets_the_webhook(settings, incident):
    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = True
    with HttpReceiver() as receiver:
        WebhookChannel().send([hook(incident, receiver.url("/hook"))])
        [request] = receiver.requests
    assert request.path == "/hook"
    assert request.json()["incident"]["id"] == incident.pk


def test_the_timeline_shows_the_host_not_the_answer_nor_the_url_secret(settings, incident):
    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = True
    with HttpReceiver() as receiver:
        receiver.reply(403, body=b'{"error": "bad token", "internal_api_key": "hunter2"}')
        url = receiver.url("/hook/T0KEN?secret=s3cret")
        notification = hook(incident, url)
        delivery.deliver(notification.pk)
        assert len(receiver.requests) == 1

    [entry] = TimelineEntry.objects.filter(incident=incident, kind="notify_failed")
    host = url.split("/")[2]
    assert host in entry.detail
    assert "403" in entry.detail
    for secret in ("hunter2", "bad token", "T0KEN", "s3cret"):
        assert secret not in entry.detail
    assert "hunter2" not in Notification.objects.get(pk=notification.pk).error


def test_the_timeline_of_a_sent_webhook_shows_its_host_only(settings, incident):
    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = True
    with HttpReceiver() as receiver:
        url = receiver.url("/hook?token=s3cret")
        delivery.deliver(hook(incident, url).pk)

    [entry] = TimelineEntry.objects.filter(incident=incident, kind="notified")
    assert url.split("/")[2] in entry.detail
    assert "s3cret" not in entry.detail


POLICY = {"slug": "p", "name": "P"}


def steps(url):
    return [{"notify": [{"type": "webhook", "url": url}]}]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://metadata.google.internal/",
        "http://localhost/",
        "gopher://example.org/",
        "file:///etc/passwd",
    ],
)
def test_a_policy_webhook_to_a_non_public_host_or_no_http_url_is_400(admin_api, url):
    response = admin_api.post("/api/v1/policies/", {**POLICY, "steps": steps(url)}, format="json")

    assert response.status_code == 400, response.content
    assert "steps" in response.json()["error"]["fields"]


def test_a_policy_webhook_to_a_private_host_is_accepted_with_the_switch(settings, admin_api):
    settings.ONCALL_WEBHOOK_ALLOW_PRIVATE = True
    response = admin_api.post(
        "/api/v1/policies/", {**POLICY, "steps": steps("http://10.0.0.1/hook")}, format="json"
    )

    assert response.status_code == 201, response.content


def test_a_policy_webhook_to_a_public_name_is_accepted(admin_api):
    response = admin_api.post(
        "/api/v1/policies/",
        {**POLICY, "steps": steps("https://bot.example.org/hook")},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_the_incident_list_names_a_paged_webhook_without_its_url(client, incident):
    from django.contrib.auth import get_user_model

    hook(incident, "https://bot.example.org/hook/T0KEN?secret=s3cret")
    client.force_login(get_user_model().objects.create_user("viewer"))

    page = client.get("/incidents/").content.decode()

    assert "last page → a webhook" in page
    assert "T0KEN" not in page and "s3cret" not in page


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(monkeypatch, incident):
    """DNS rebinding: the name resolves to a public address when checked and to loopback
    on a second lookup. The public internet is not reachable here, so the resolver is
    simulated and the connection attempt recorded instead of made."""
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1"])
    lookups, connects = [], []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    def connect(address, *args, **kwargs):
        connects.append(address)
        raise ConnectionRefusedError("recorded, not connected")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(ChannelError) as error:
        WebhookChannel(timeout=0.5).send([hook(incident, "http://rebind.example.org:8080/h")])

    assert error.value.permanent is False  # an unreachable host, retried later
    assert lookups == ["rebind.example.org"]
    assert connects == [("93.184.215.14", 8080)]
