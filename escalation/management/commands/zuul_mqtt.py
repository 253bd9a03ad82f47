"""``manage.py zuul_mqtt``: store the results Zuul's MQTT reporter publishes.

Subscribes to ``ZUUL_MQTT_TOPIC`` (default ``zuul/#``) on ``ZUUL_MQTT_URL`` with QoS 1
and a persistent session (``clean_session`` off, a stable client id), so the broker
keeps what Zuul published while this process was down and delivers it after the
reconnect. A message is acknowledged only once its reports are stored (or it was
found unreadable and skipped), so a crash or a database outage never loses one:
the broker sends it again, and the build ``uuid`` makes the repeat count once.

``make run`` starts it when ``ZUUL_MQTT_URL`` is set.
"""

from __future__ import annotations

import logging
import signal
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from escalation.ingest import BadPayload, zuul
from escalation.services import ingestion
from oncall.api import parsers

log = logging.getLogger("escalation.zuul_mqtt")

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
MIN_DELAY, MAX_DELAY = 1.0, 60.0  # reconnect backoff, doubled after each failure
KEEPALIVE = 60


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool
    websockets: bool
    path: str
    username: str | None
    password: str | None

    def __str__(self) -> str:
        scheme = (
            ("wss" if self.tls else "ws") if self.websockets else ("mqtts" if self.tls else "mqtt")
        )
        return f"{scheme}://{self.host}:{self.port}{self.path if self.websockets else ''}"


def broker(url: str) -> Broker:
    """``mqtt://user:pass@host:1883`` (``mqtts`` for TLS, ``ws``/``wss`` for websockets)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise CommandError(f"Not an MQTT URL: {url!r} (expected mqtt://host:1883 or mqtts://…)")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise CommandError(f"Bad port in {url!r}: {error}") from error
    return Broker(
        host=parts.hostname,
        port=port,
        tls=parts.scheme in ("mqtts", "wss"),
        websockets=parts.scheme in ("ws", "wss"),
        path=parts.path or "/mqtt",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class Subscriber:
    """One MQTT session; ``run()`` returns when stopped or after ``max_messages``."""

    def __init__(
        self,
        target: Broker,
        topic: str,
        client_id: str,
        *,
        ca_file: str | None = None,
        insecure: bool = False,
        max_messages: int | None = None,
    ) -> None:
        self.broker, self.topic, self.max_messages = target, topic, max_messages
        self.handled = 0
        self.stopping = False
        self.broken = False  # a message could not be stored: reconnect to get it again
        self.accepted = False  # the broker accepted this connection
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            transport="websockets" if target.websockets else "tcp",
            manual_ack=True,
        )
        if target.username is not None:
            self.client.username_pw_set(target.username, target.password)
        if target.websockets:
            self.client.ws_set_options(path=target.path)
        if target.tls:
            self.client.tls_set(
                ca_certs=ca_file, cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED
            )
            self.client.tls_insecure_set(insecure)
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.on_disconnect = self.on_disconnect

    # Callbacks ----------------------------------------------------------------------

    def on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("%s refused the connection: %s", self.broker, reason)
            self.broken = True
            return
        self.accepted = True
        log.info("connected to %s (session present: %s)", self.broker, flags.session_present)
        # Subscribing again is harmless with a kept session and picks up a changed topic.
        client.subscribe(self.topic, qos=1)

    def on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("subscribing to %r was refused: %s", self.topic, reasons)
            self.broken = True
        else:
            log.info("subscribed to %r with QoS 1", self.topic)

    def on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self.stopping:
            log.warning("disconnected from %s: %s", self.broker, reason)

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.broken or self.stopping:
            return  # not acknowledged: the broker sends it again after the reconnect
        try:
            reports = zuul.parse_message(parsers.loads(message.payload))
        except (ValueError, BadPayload) as error:  # JSON, UTF-8 and shape errors
            log.warning("skipping an unreadable message on %s: %s", message.topic, error)
            self.done(message)
            return
        try:
            close_old_connections()
            accepted = ingestion.accept(reports)
        except (OperationalError, InterfaceError) as error:
            log.error(
                "cannot store the message on %s (%s); reconnecting to receive it again",
                message.topic,
                error,
            )
            connections.close_all()
            self.broken = True
            return
        except Exception:
            # A message that breaks storing would break it on every redelivery too.
            log.exception("skipping a message on %s that could not be stored", message.topic)
            self.done(message)
            return
        body = accepted.body()
        log.info(
            "%s: %d report(s) → %s; ignored %d",
            message.topic,
            len(reports),
            ", ".join(
                f"incident {i['id']} {i['state']} ({i['occurrences']} occurrence(s))"
                for i in body["incidents"]
            )
            or "no incident",
            body["ignored"],
        )
        self.done(message)

    def done(self, message: mqtt.MQTTMessage) -> None:
        self.client.ack(message.mid, message.qos)
        self.handled += 1
        if self.max_messages is not None and self.handled >= self.max_messages:
            self.stopping = True

    # The loop -----------------------------------------------------------------------

    def run(self) -> None:
        delay = MIN_DELAY
        while not self.stopping:
            self.broken = self.accepted = False
            try:
                self.client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE)
            except (OSError, mqtt.WebsocketConnectionError) as error:
                log.warning("cannot reach %s: %s; retrying in %.0f s", self.broker, error, delay)
            else:
                while not (self.stopping or self.broken):
                    code = self.client.loop(timeout=1.0)
                    if code != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        log.warning(
                            "connection to %s lost: %s", self.broker, mqtt.error_string(code)
                        )
                        break
                self.close()
                if self.stopping:
                    break
                if self.accepted and not self.broken:
                    delay = MIN_DELAY  # it had worked: the next try is soon
                log.info("reconnecting to %s in %.0f s", self.broker, delay)
            self.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
        log.info("stopped after %d message(s)", self.handled)

    def close(self) -> None:
        """Disconnect after sending what is queued (acknowledgements included)."""
        self.client.disconnect()
        deadline = time.monotonic() + 5
        while self.client.is_connected() and time.monotonic() < deadline:
            if self.client.loop(timeout=0.2) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))

    def stop(self, signum: int, frame: Any) -> None:
        self.stopping = True


class Command(BaseCommand):
    help = "Subscribe to Zuul's MQTT reporter and store the failures and recoveries it reports."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", help="broker URL (default: ZUUL_MQTT_URL)")
        parser.add_argument("--topic", help="topic filter (default: ZUUL_MQTT_TOPIC, zuul/#)")
        parser.add_argument(
            "--client-id",
            default="oncall-zuul-mqtt",
            help="stable id that names the kept session (default: %(default)s)",
        )
        parser.add_argument("--ca-file", help="CA bundle to verify an mqtts:// broker with")
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="do not verify the mqtts:// broker's certificate",
        )
        parser.add_argument(
            "--max-messages",
            type=int,
            default=None,
            help="exit after handling this many messages (for tests)",
        )

    def handle(
        self,
        *args: Any,
        url: str | None,
        topic: str | None,
        client_id: str,
        ca_file: str | None,
        insecure: bool,
        max_messages: int | None,
        **options: Any,
    ) -> None:
        url = url or settings.ZUUL_MQTT_URL
        if not url:
            raise CommandError("Set ZUUL_MQTT_URL (mqtt://user:pass@host:1883) or pass --url.")
        target = broker(url)
        if (ca_file or insecure) and not target.tls:
            raise CommandError("--ca-file and --insecure need an mqtts:// or wss:// URL.")
        if not client_id:
            raise CommandError("--client-id must not be empty: it names the kept session.")
        subscriber = Subscriber(
            target,
            topic or settings.ZUUL_MQTT_TOPIC,
            client_id,
            ca_file=ca_file,
            insecure=insecure,
            max_messages=max_messages,
        )
        signal.signal(signal.SIGTERM, subscriber.stop)
        signal.signal(signal.SIGINT, subscriber.stop)
        log.info("subscribing to %r on %s as %r", subscriber.topic, target, client_id)
        subscriber.run()
