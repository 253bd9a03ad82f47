"""A real Alertmanager notifies the ingest endpoint: firing opens, re-sends count once,
resolved resolves."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from escalation.models import Incident
from oncall.models import ApiToken
from tests.processes import free_port, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LABELS = {
    "alertname": "ComplianceCheckFailing",
    "severity": "critical",
    "repo": "SovereignCloudStack/standards",
    "job": "scs-check-gx-scs-main",
    "subject": "gx-scs",
}
ANNOTATIONS = {
    "summary": "Compliance check for gx-scs failing for 2h",
    "runbook_url": "https://docs.example.org/runbooks/compliance",
}


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.fail(
            "no Alertmanager binary: install it with "
            "`apt-get install -y prometheus-alertmanager` (/usr/bin/prometheus-alertmanager)"
        )
    return found


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


@contextmanager
def alertmanager(webhook_url: str, token: str, tmp_path: Path) -> Iterator[str]:
    """Alertmanager routing everything to ``webhook_url`` with a bearer token; yields its URL."""
    config = {
        "route": {
            "receiver": "oncall",
            "group_by": ["alertname", "subject"],
            "group_wait": "1s",
            "group_interval": "1s",
            # Re-sends the firing alert while the test watches: it must count once.
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "oncall",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials": token}},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = tmp_path / "alertmanager.log"
    argv = [
        alertmanager_binary(),
        f"--config.file={path}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: ready(f"{url}/-/ready"), 30, "Alertmanager to be ready", log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def post_alert(url: str, starts: datetime, ends: datetime | None = None) -> None:
    alert = {
        "labels": LABELS,
        "annotations": ANNOTATIONS,
        "startsAt": starts.isoformat(),
        "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up",
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{url}/api/v2/alerts",
        data=json.dumps([alert]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 200


def test_real_alertmanager_opens_then_resolves_an_incident(live_server, tmp_path):
    token = ApiToken(name="alertmanager", scopes=["ingest"])
    secret = token.set_new_secret()
    token.save()
    log = tmp_path / "alertmanager.log"
    webhook = f"{live_server.url}/api/v1/ingest/alertmanager/"
    starts = datetime.now(tz=UTC) - timedelta(minutes=10)

    with alertmanager(webhook, secret, tmp_path) as url:
        post_alert(url, starts)
        incident = wait_until(
            lambda: Incident.objects.filter(source="alertmanager").first(),
            60,
            "the incident from Alertmanager's notification",
            log,
        )
        assert (incident.repo, incident.job, incident.subject) == (
            LABELS["repo"],
            LABELS["job"],
            LABELS["subject"],
        )
        assert (incident.summary, incident.workflow) == (
            ANNOTATIONS["summary"],
            ANNOTATIONS["runbook_url"],
        )
        assert incident.dedup_key.startswith("alertmanager:")
        assert incident.state == "open"

        wait_until(
            lambda: log.read_text().count("Notify success") >= 2,
            60,
            "Alertmanager to repeat the notification",
            log,
        )
        incident.refresh_from_db()
        assert incident.occurrences == 1  # a re-sent firing alert is the same occurrence

        post_alert(url, starts, ends=datetime.now(tz=UTC) - timedelta(seconds=5))
        wait_until(
            lambda: Incident.objects.filter(pk=incident.pk, state="resolved").exists(),
            60,
            "the resolved notification to resolve the incident",
            log,
        )
    assert Incident.objects.count() == 1
