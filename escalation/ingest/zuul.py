"""A Zuul MQTT reporter message, exactly as Zuul publishes it (docs/api.md, "Ingestion").

It arrives by ``POST /api/v1/ingest/zuul/`` or through ``manage.py zuul_mqtt``; both
call ``parse_message``. One report per build of ``buildset.builds``: ``SUCCESS``
recovers that job's incident; any other verdict, including a job's custom failure
message in place of the result, is a failure; builds without a verdict (skipped,
cancelled, aborted, not run) are neither. ``retry_builds`` were retried, so they are
not failures. Incidents are keyed by tenant, project, branch, pipeline and job, and
the build ``uuid`` makes the same message delivered twice count once.

A buildset that failed before any job ran (``MERGE_CONFLICT``, ``CONFIG_ERROR``: no
builds) is reported once for the buildset, with an empty job; the next buildset of
that project, branch and pipeline that ran jobs recovers it.

``INFRASTRUCTURE_RESULTS`` are Zuul's trouble, not the job's: their reports have category
``infrastructure``, which no route can change (``escalation.classification``).
"""

from __future__ import annotations

from typing import Any

from escalation.ingest import INFRASTRUCTURE, JOB, BadPayload, Report, clean

SOURCE = "zuul"

# Reporter actions that carry results; "start", "enqueue", "dequeue" report none.
RESULT_ACTIONS = frozenset(
    {"success", "failure", "merge-conflict", "merge-failure", "config-error", "no-jobs", "disabled"}
)
SUCCESS = "SUCCESS"
# Builds that ended without a verdict on the job (None: never ran).
NO_VERDICT = frozenset({"", "SKIPPED", "CANCELED", "CANCELLED", "ABORTED", "RETRY", "DEQUEUED"})
# Results that say Zuul could not run the job or record its outcome, so the job's own
# check (e.g. a cloud's compliance) never came to a verdict: no nodes, retries used up
# (the pre-run kept failing), the post-run or log upload failed, the time limit, a full
# disk, a lost executor, an internal error; and buildsets that never ran a job because
# the change could not be merged (MERGE_CONFLICT, formerly MERGER_FAILURE;
# MERGE_FAILURE: the code review system refused the merge) or the Zuul configuration
# is broken (CONFIG_ERROR, ERROR). Everything else that is not a success is the job's.
INFRASTRUCTURE_RESULTS = frozenset(
    {
        "NODE_FAILURE",
        "RETRY_LIMIT",
        "POST_FAILURE",
        "TIMED_OUT",
        "DISK_FULL",
        "LOST",
        "EXCEPTION",
        "MERGE_CONFLICT",
        "MERGER_FAILURE",
        "MERGE_FAILURE",
        "CONFIG_ERROR",
        "ERROR",
    }
)
# Buildset results that are not a failure of the buildset itself.
BUILDSET_NOT_FAILED = NO_VERDICT | {SUCCESS, "NO_JOBS"}


def parse_message(payload: Any) -> list[Report]:
    """The reports of one reporter message; [] for a message that reports no result.

    Raises BadPayload (naming the field) when a needed key is missing or of the wrong type.
    """
    if not isinstance(payload, dict):
        raise BadPayload("Expected a Zuul reporter message (a JSON object).")
    clean.no_nul(payload)
    action = clean.require(payload, "action", str)
    if action not in RESULT_ACTIONS:
        return []
    tenant = clean.require(payload, "tenant", str)
    pipeline = clean.require(payload, "pipeline", str)
    buildset = clean.require(payload, "buildset", dict)
    builds = clean.require(buildset, "builds", list, "buildset")
    message = payload.get("message")
    headline = (
        message.strip().splitlines()[0].strip()
        if isinstance(message, str) and message.strip()
        else ""
    )
    at = clean.epoch(payload.get("timestamp"), "timestamp")

    reports = []
    for index, build in enumerate(builds):
        where = f"buildset.builds.{index}"
        if not isinstance(build, dict):
            raise BadPayload(f"{where} must be an object.", {where: ["Expected an object."]})
        result = build.get("result")
        verdict = "" if result is None else clean.text(result)
        if verdict in NO_VERDICT:
            continue
        job = clean.require(build, "job_name", str, where)
        build_uuid = clean.require(build, "uuid", str, where)
        voting = build.get("voting", True)
        if not isinstance(voting, bool | None):
            raise BadPayload(
                f"{where}.voting must be true or false.",
                {f"{where}.voting": ["Expected a boolean."]},
            )
        project, branch, change = _change(payload, build.get("change"), where)
        labels = {"tenant": tenant}
        if change:
            labels["change"] = change
        reports.append(
            Report(
                source=SOURCE,
                status="success" if verdict == SUCCESS else "failure",
                repo=clean.text(project),
                job=clean.text(job),
                pipeline=clean.text(pipeline),
                branch=clean.text(branch),
                result=verdict,
                summary=_summary(job, verdict, headline if verdict != SUCCESS else ""),
                url=clean.url(build.get("web_url")),
                log_url=clean.url(build.get("log_url")),
                dedup_key=clean.key(SOURCE, tenant, project, branch, pipeline, job),
                labels=labels,
                occurred_at=clean.epoch(build.get("end_time"), f"{where}.end_time") or at,
                category=INFRASTRUCTURE if verdict in INFRASTRUCTURE_RESULTS else JOB,
                voting=voting is not False,
                delivery_key=clean.key(build_uuid, limit=clean.DELIVERY_KEY),
                payload={
                    "tenant": tenant,
                    "pipeline": pipeline,
                    "action": action,
                    "buildset": buildset.get("uuid"),
                    "build": build,
                },
            )
        )
    ran = bool(reports)  # at least one job came to a verdict
    return reports + _buildset_report(payload, tenant, pipeline, buildset, ran, headline, at)


def _buildset_report(
    payload: dict[str, Any],
    tenant: str,
    pipeline: str,
    buildset: dict[str, Any],
    ran: bool,
    headline: str,
    at: Any,
) -> list[Report]:
    """A buildset that failed before any job ran is a failure of its own; one whose jobs
    ran recovers it."""
    result = buildset.get("result")
    verdict = "" if result is None else clean.text(result)
    failed = not buildset["builds"] and verdict not in BUILDSET_NOT_FAILED
    if not failed and not ran:
        return []
    project, branch, change = _change(payload, None, "buildset")
    labels = {"tenant": tenant, **({"change": change} if change else {})}
    summary = _summary(pipeline, verdict if failed else "jobs ran", headline if failed else "")
    return [
        Report(
            source=SOURCE,
            status="failure" if failed else "success",
            repo=clean.text(project),
            pipeline=clean.text(pipeline),
            branch=clean.text(branch),
            result=verdict,
            summary=summary,
            dedup_key=clean.key(SOURCE, tenant, project, branch, pipeline, ""),
            labels=labels,
            occurred_at=at,
            category=INFRASTRUCTURE if failed and verdict in INFRASTRUCTURE_RESULTS else JOB,
            delivery_key=clean.key(
                "buildset",
                buildset.get("uuid") or payload.get("uuid") or "",
                limit=clean.DELIVERY_KEY,
            )
            if failed
            else "",
            payload={
                "tenant": tenant,
                "pipeline": pipeline,
                "action": payload.get("action"),
                "buildset": {k: v for k, v in buildset.items() if k != "builds"},
            },
        )
    ]


def _summary(what: str, verdict: str, headline: str) -> str:
    """``scs-check-gx-scs-main: FAILURE — Build failed.``"""
    return clean.summary(f"{what}: {verdict} — {headline}" if headline else f"{what}: {verdict}")


def _change(payload: dict[str, Any], build_change: Any, where: str) -> tuple[str, str, str]:
    """(project, branch, change) of a build: its own ``change``, else the matching entry of
    ``changes``, else the deprecated top-level fields. ``change`` is "" when there is none
    (periodic pipelines), whether Zuul sent an int, a string or ""."""
    sources: list[dict[str, Any]] = []
    own_project = ""
    if isinstance(build_change, dict):
        sources.append(build_change)
        own_project = build_change.get("project") or ""
    changes = payload.get("changes")
    if isinstance(changes, list):
        entries = [c for c in changes if isinstance(c, dict)]
        sources.extend(c for c in entries if not own_project or c.get("project") == own_project)
    sources.append(payload)

    def first(name: str) -> str:
        for source in sources:
            value = source.get(name)
            if isinstance(value, bool) or value is None or value == "":
                continue
            if isinstance(value, str | int):
                return str(value)
        return ""

    project = first("project")
    if not project:
        raise BadPayload(
            f"No project for {where}: neither the build's change, changes nor "
            "the message name one.",
            {"project": ["This field is required."]},
        )
    return project, first("branch"), first("change")
