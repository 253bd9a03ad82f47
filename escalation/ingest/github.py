"""GitHub ``workflow_run`` and ``check_run`` deliveries (docs/api.md, "Ingestion").

A delivery is trusted only with a valid ``X-Hub-Signature-256`` (HMAC-SHA256 of the
exact body, keyed with ``GITHUB_WEBHOOK_SECRET``). Only ``completed`` runs count:
conclusion ``failure`` or ``timed_out`` is a failure, ``success`` a recovery, anything
else (and any other event, e.g. ``ping``) is ignored. The delivery key is the run —
``workflow_run.id`` with ``run_attempt``, or ``check_run.id`` — not ``X-GitHub-Delivery``:
a redelivery and a replayed copy under a new delivery id count once, a re-run (a new
attempt, a new check run) counts again (see ``escalation.services.replays``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from escalation.ingest import JOB, BadPayload, Report, clean
from oncall.api import parsers

SOURCE = "github"
EVENTS = ("workflow_run", "check_run")
FAILED = frozenset({"failure", "timed_out"})
PASSED = "success"


@dataclass
class Delivery:
    reports: list[Report] = field(default_factory=list)
    ignored: int = 0


def signature(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``: ``sha256=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes | None, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body``; always False without a secret."""
    if not secret or not header:
        return False
    expected = signature(secret, body).encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def decode(body: bytes, content_type: str) -> Any:
    """The delivery's JSON, sent as ``application/json`` or form-encoded ``payload=``.

    Raises ValueError when it is not JSON.
    """
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        body = (form.get("payload") or [""])[0].encode()
    return parsers.loads(body)


def parse(event: str, body: Any) -> Delivery:
    """The reports of one verified delivery of ``event`` (``X-GitHub-Event``)."""
    if event not in EVENTS:
        return Delivery(ignored=1)
    if not isinstance(body, dict):
        raise BadPayload(f"Expected a {event} delivery (a JSON object).")
    clean.no_nul(body)
    run = clean.require(body, event, dict)
    action = clean.require(body, "action", str)
    repository = clean.require(body, "repository", dict)
    repo = clean.require(repository, "full_name", str, "repository")
    if action != "completed":
        return Delivery(ignored=1)
    conclusion = run.get("conclusion")
    if conclusion not in FAILED and conclusion != PASSED:
        return Delivery(ignored=1)  # cancelled, skipped, neutral, stale, action_required…
    job = clean.require(run, "name", str, event)
    run_id = clean.require(run, "id", int, event)
    if event == "workflow_run":
        branch = run.get("head_branch")
        pipeline = run.get("event")
        occurred = "updated_at"
        title = run.get("display_title")
        attempt = run.get("run_attempt")
        run_key = f"{run_id}:{attempt if isinstance(attempt, int) else 1}"
    else:
        suite = run.get("check_suite")
        branch = suite.get("head_branch") if isinstance(suite, dict) else None
        pipeline = ""
        occurred = "completed_at"
        output = run.get("output")
        title = output.get("title") if isinstance(output, dict) else None
        run_key = str(run_id)
    branch = clean.text(branch)
    summary = f"{job} on {branch or 'an unknown branch'}: {conclusion}"
    if isinstance(title, str) and title.strip():
        summary += f" — {title.strip()}"
    report = Report(
        source=SOURCE,
        status="success" if conclusion == PASSED else "failure",
        repo=clean.text(repo),
        job=clean.text(job),
        pipeline=clean.text(pipeline),
        branch=branch,
        result=str(conclusion),
        summary=clean.summary(summary),
        url=clean.url(run.get("html_url")),
        dedup_key=clean.key(SOURCE, repo, job, branch),
        labels={"event": event},
        occurred_at=clean.iso_time(run.get(occurred), f"{event}.{occurred}"),
        category=JOB,
        delivery_key=clean.key(event, run_key, limit=clean.DELIVERY_KEY),
        payload=body,
    )
    return Delivery(reports=[report])
