"""A real Prometheus (Debian's package) scrapes /metrics of a running gunicorn with a
bearer token every second, while an incident is ingested, claimed and resolved; and
promtool accepts the example alert rules (docs/prometheus-rules.yml)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from escalation.models import Incident
from oncall.models import ApiToken
from tests.escalation.conftest import FAILURE
from tests.processes import ROOT, child_env, free_port, wait_until, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run `make system-deps` (Debian package prometheus)")
    return path


@contextmanager
def prometheus(target: str, secret: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    host = urllib.parse.urlsplit(target).netloc
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "oncall",
                        "authorization": {"credentials": secret},
                        "static_configs": [{"targets": [host]}],
                    }
                ],
            }
        )
    )
    log = tmp_path / "prometheus.log"
    argv = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def query(prom: str, expr: str) -> float | None:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            body = json.load(response)
    except OSError:
        return None
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def post(base: str, path: str, secret: str, body: dict) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        assert response.status < 300


def test_real_prometheus_sees_an_incident_open_get_claimed_and_resolve(repo, people, tmp_path):
    reader = ApiToken(name="prometheus", scopes=["read"])
    read_secret = reader.set_new_secret()
    reader.save()
    admin = ApiToken(name="script", scopes=["admin"], person=people["alice"])
    admin_secret = admin.set_new_secret()
    admin.save()
    incidents = 'oncall_incidents{state="%s",team="ops",category="%s"}'
    # A series of resolved incidents ends (no row left to count): sum it, 0 when absent.
    open_total = 'sum(oncall_incidents{state="open"}) or vector(0)'

    def until(expr: str, value: float) -> None:
        wait_until(lambda: query(prom, expr) == value, 20, f"{expr} == {value}", tmp_path / "p.log")

    with (
        web_server(child_env(), tmp_path / "web.log") as base,
        prometheus(base, read_secret, tmp_path) as prom,
    ):
        until('up{job="oncall"}', 1)  # scraped with the token: 401 would be up == 0
        until("oncall_sweep_lag_seconds", 0)
        post(base, "/api/v1/events/", admin_secret, FAILURE)
        post(base, "/api/v1/events/", admin_secret, {**FAILURE, "url": FAILURE["url"] + "2"})
        one = Incident.objects.get()
        category = one.category
        until(incidents % ("open", category), 1)
        until('oncall_reports_total{source="zuul",result="failure"}', 2)
        assert query(prom, "oncall_oldest_unclaimed_seconds") is not None

        post(base, f"/api/v1/incidents/{one.pk}/claim/", admin_secret, {})
        until(incidents % ("claimed", category), 1)
        assert query(prom, open_total) == 0
        until("oncall_oldest_unclaimed_seconds", 0)

        post(base, f"/api/v1/incidents/{one.pk}/resolve/", admin_secret, {})
        until('sum(oncall_incidents{state="claimed"}) or vector(0)', 0)
        assert query(prom, open_total) == 0
        until("oncall_mttr_seconds_count", 1)
        assert query(prom, 'oncall_mttr_seconds_bucket{le="+Inf"}') == 1


def test_example_alert_rules_pass_promtool():
    rules = ROOT / "docs" / "prometheus-rules.yml"
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout
