"""``manage.py zuul_mqtt`` against a real Mosquitto: Zuul's messages become incidents."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management.base import CommandError
from paho.mqtt.enums import CallbackAPIVersion

from escalation.management.commands.zuul_mqtt import Broker, broker
from escalation.models import Incident
from tests.processes import ROOT, child_env, free_port, wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of shared/fixtures
GATE_KEY = "zuul:scs:SovereignCloudStack/standards:main:periodic-hourly:scs-check-gx-scs-main"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail("no mosquitto binary to start an MQTT broker: apt-get install mosquitto")
    return found


@contextmanager
def mosquitto(port: int, log: Path, config: str = "") -> Iterator[None]:
    """A throwaway Mosquitto on ``port``; ``config`` lines make it a configured listener."""
    argv = [mosquitto_binary(), "-p", str(port)]
    if config:
        path = log.with_suffix(".conf")
        # Started as root, Mosquitto would switch to its own user, who cannot read tmp_path.
        path.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n{config}")
        argv = [mosquitto_binary(), "-c", str(path)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: port_open(port), 15, f"mosquitto on port {port}", log)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def broker_port(tmp_path) -> Iterator[int]:
    """The machine's Mosquitto on 1883, else a throwaway one on a free port."""
    if port_open(1883):
        yield 1883
        return
    port = free_port()
    with mosquitto(port, tmp_path / "mosquitto.log"):
        yield port


def publish(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def forget_session(port: int, client_id: str) -> None:
    """Drop the broker's kept session of ``client_id`` (a clean-session connect ends it)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@contextmanager
def subscriber(
    url: str | int, topic: str, client_id: str, log: Path, *extra: str
) -> Iterator[subprocess.Popen]:
    """``manage.py zuul_mqtt`` on ``url`` (a port: plain MQTT on 127.0.0.1), logging to ``log``."""
    argv = [
        sys.executable,
        "manage.py",
        "zuul_mqtt",
        "--url",
        f"mqtt://127.0.0.1:{url}" if isinstance(url, int) else url,
        "--topic",
        topic,
        "--client-id",
        client_id,
        *extra,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, env=child_env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=15)


def subscribed(log: Path, times: int = 1) -> bool:
    return log.exists() and log.read_text().count("subscribed to") >= times


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_published_failure_becomes_an_incident_and_messages_sent_while_down_arrive(
    broker_port, tmp_path
):
    root = f"oncall-test/{uuid.uuid4().hex}"
    client_id = f"oncall-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "zuul_mqtt.log"
    try:
        with subscriber(broker_port, f"{root}/#", client_id, log, "--max-messages", "2") as proc:
            wait_until(lambda: subscribed(log), 30, "the subscription", log)
            publish(broker_port, f"{root}/scs/periodic-hourly", b"{not json")
            publish(
                broker_port,
                f"{root}/scs/periodic-hourly",
                (FIXTURES / "zuul-periodic-failure.json").read_bytes(),
            )
            incident = wait_until(
                lambda: Incident.objects.filter(dedup_key=GATE_KEY).first(), 30, "the incident", log
            )
            assert proc.wait(timeout=30) == 0, log.read_text()
        assert (incident.state, incident.occurrences, incident.source) == ("open", 1, "zuul")
        assert "skipping an unreadable message" in log.read_text()

        # Published while nobody listens: the kept session holds it for the next start.
        publish(
            broker_port,
            f"{root}/scs/periodic-hourly",
            (FIXTURES / "zuul-periodic-success.json").read_bytes(),
        )
        with subscriber(broker_port, f"{root}/#", client_id, log, "--max-messages", "1") as proc:
            wait_until(
                lambda: Incident.objects.filter(pk=incident.pk, state="resolved").exists(),
                30,
                "the recovery published while the subscriber was down",
                log,
            )
            assert proc.wait(timeout=30) == 0, log.read_text()
        assert "session present: True" in log.read_text()
    finally:
        forget_session(broker_port, client_id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_subscriber_keeps_retrying_until_the_broker_is_up(tmp_path):
    port = free_port()
    log = tmp_path / "zuul_mqtt.log"
    topic = f"oncall-test/{uuid.uuid4().hex}"
    with subscriber(port, f"{topic}/#", "oncall-test-retry", log, "--max-messages", "1") as proc:
        wait_until(lambda: "cannot reach" in log.read_text(), 30, "a failed attempt", log)
        with mosquitto(port, tmp_path / "mosquitto.log"):
            wait_until(lambda: subscribed(log), 30, "the subscription after retrying", log)
            publish(
                port,
                f"{topic}/scs/compliance_check",
                (FIXTURES / "zuul-compliance-node-failure.json").read_bytes(),
            )
            assert proc.wait(timeout=30) == 0, log.read_text()
    assert Incident.objects.get().category == "infrastructure"


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("no openssl binary to make a test certificate: apt-get install openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_mqtts_verifies_the_broker_with_the_ca_file_or_not_at_all_with_insecure(
    tmp_path, certificate
):
    cert, key = certificate
    port = free_port()
    log = tmp_path / "zuul_mqtt.log"
    topic = f"oncall-test/{uuid.uuid4().hex}"
    with mosquitto(port, tmp_path / "mosquitto.log", f"certfile {cert}\nkeyfile {key}\n"):
        url = f"mqtts://127.0.0.1:{port}"
        # Without the CA, the self-signed broker is refused (and retried, never trusted).
        with subscriber(url, f"{topic}/#", "oncall-test-tls", log):
            wait_until(
                lambda: "CERTIFICATE_VERIFY_FAILED" in log.read_text(),
                30,
                "the refused certificate",
                log,
            )
            assert not subscribed(log)
        for extra in (["--ca-file", str(cert)], ["--insecure"]):
            times = log.read_text().count("subscribed to") + 1
            with subscriber(url, f"{topic}/#", "oncall-test-tls", log, *extra) as proc:
                wait_until(lambda n=times: subscribed(log, n), 30, f"TLS with {extra[0]}", log)
                proc.terminate()  # SIGTERM stops it cleanly
                assert proc.wait(timeout=15) == 0, log.read_text()


def test_broker_url_forms():
    assert broker("mqtt://zuul:p%40ss@mq.example.org") == Broker(
        "mq.example.org", 1883, False, False, "/mqtt", "zuul", "p@ss"
    )
    assert broker("mqtts://mq.example.org:8884").tls
    assert broker("mqtts://mq.example.org").port == 8883
    wss = broker("wss://mq.example.org/zuul/mqtt")
    assert (wss.websockets, wss.tls, wss.port, wss.path) == (True, True, 443, "/zuul/mqtt")
    for bad in ("http://mq.example.org", "mqtt://", "mqtt://host:99999"):
        with pytest.raises(CommandError):
            broker(bad)


def test_command_without_a_url_says_what_to_set(settings):
    from django.core.management import call_command

    settings.ZUUL_MQTT_URL = None
    with pytest.raises(CommandError, match="ZUUL_MQTT_URL"):
        call_command("zuul_mqtt")
