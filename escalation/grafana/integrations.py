"""Integrations and their routes → our routes, and where each sender must now post.

Grafana routes belong to an integration; ours are one ordered list over all reports.
An integration becomes a ``source``: ``alertmanager`` and ``grafana`` for the two
ingest endpoints, and for a webhook integration the source its senders are asked
to put in the generic event (the integration's slug). Its routes keep their order,
its default route becomes a route matching the source alone.

Filters: a ``regex`` route searches the alert's whole JSON text; the one form with a
clear meaning, ``"name": "value"`` or ``"name": "(a|b)"``, becomes a label match
per value. A ``jinja2`` route written as ``payload.X == "v"`` terms joined by
``and`` becomes field or label globs. Anything else is reported, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from escalation.grafana.context import Context

ENDPOINTS = {
    "alertmanager": ("/api/v1/ingest/alertmanager/", "alertmanager"),
    "grafana_alerting": ("/api/v1/ingest/grafana/", "grafana"),
    "grafana": ("/api/v1/ingest/grafana/", "grafana"),
    "webhook": ("/api/v1/events/", None),
    "formatted_webhook": ("/api/v1/events/", None),
}
# Sources our own ingest endpoints and watches use: a webhook integration never gets one.
RESERVED_SOURCES = {"alertmanager", "grafana", "zuul", "github", "watch"}
GENERIC_FIELDS = ("repo", "pipeline", "job", "branch", "subject", "result")
REGEX_LABEL = re.compile(r'^"([A-Za-z_][A-Za-z0-9_]*)": ?"(\(?)([A-Za-z0-9_.\-|]+)(\)?)"$')
JINJA = re.compile(r"^\{\{-?\s*(.*?)\s*-?\}\}$", re.S)
TERM = re.compile(r'^payload\.([A-Za-z0-9_.]+)\s*==\s*"([^"\\]*)"$')


def _glob(value: str) -> str:
    """A glob matching exactly ``value``."""
    return re.sub(r"([*?\[])", r"[\1]", value)


def _regex_matches(regex: str) -> list[dict[str, Any]] | None:
    found = REGEX_LABEL.match(regex.strip())
    if not found or (found[2] == "(") != (found[4] == ")"):
        return None
    values = found[3].split("|")
    if found[2] == "" and len(values) > 1:
        return None
    if any(not v or "." in v for v in values):  # a "." is a regex wildcard
        return None
    return [{"labels": {found[1]: _glob(v)}} for v in values]


def _jinja_match(template: str, generic: bool) -> dict[str, Any] | None:
    body = JINJA.match(template.strip())
    if not body:
        return None
    match: dict[str, Any] = {}
    for term in re.split(r"\s+and\s+", body[1]):
        found = TERM.match(term.strip())
        if not found:
            return None
        path, value = found[1], found[2]
        if generic and path == "status" and value == "failure":
            continue  # only failures open incidents
        if generic and path in GENERIC_FIELDS:
            match[path] = _glob(value)
        elif not generic and path.startswith(("commonLabels.", "groupLabels.")):
            match.setdefault("labels", {})[path.split(".", 1)[1]] = _glob(value)
        else:
            return None
    return match or None


def map_integrations(ctx: Context) -> list[dict[str, Any]]:
    routes_of: dict[str, list[dict[str, Any]]] = {}
    for route in ctx.items("routes"):
        routes_of.setdefault(str(route.get("integration_id")), []).append(route)
    routes: list[dict[str, Any]] = []
    ctx.taken.setdefault("source", set()).update(RESERVED_SOURCES)
    catch_all: dict[str, str] = {}  # source → the integration whose default route took it
    for integration in ctx.items("integrations"):
        name = str(integration.get("name") or integration["id"])
        kind = str(integration.get("type"))
        subject = f'integration "{name}" ({kind})'
        if kind not in ENDPOINTS:
            ctx.report.not_imported(
                subject,
                "no ingest endpoint here reads this sender; send the generic event to "
                "/api/v1/events/ instead (docs/api.md)",
            )
            continue
        path, source = ENDPOINTS[kind]
        if source is None:
            # The generic event's source is at most 20 characters.
            source = ctx.slug("source", name, fallback=str(integration["id"]).lower(), length=20)
            ctx.report.action(
                subject,
                f"make its senders post the generic event (docs/api.md) to {path} with "
                f'"source": "{source}" and an ingest token (was {integration.get("link")}); '
                "its payloads and templates do not carry over",
            )
        else:
            ctx.report.action(
                subject,
                f"point its senders at {path} with an ingest token as bearer "
                f"(was {integration.get('link')})",
            )
        templates = {k: v for k, v in (integration.get("templates") or {}).items() if v}
        custom = [
            k for k, v in templates.items() if not isinstance(v, dict) or any(x for x in v.values())
        ]
        if custom:
            ctx.report.not_imported(
                f"{subject} templates",
                f"{', '.join(custom)}: templates have no equivalent; the dedup key, recovery "
                "and texts come from the report's fields (docs/incidents.md)",
            )
        if integration.get("maintenance_mode"):
            ctx.report.not_imported(f"{subject} maintenance", "use a silence instead")
        mine = sorted(routes_of.get(integration["id"], []), key=lambda r: r.get("position", 0))
        mine.sort(key=lambda r: bool(r.get("is_the_last_route")))
        for route in mine:
            routes.extend(_map_route(ctx, route, subject, source, kind, catch_all, name))
    for order, route in enumerate(routes, start=1):
        route["order"] = order * 10
    for hook in ctx.items("webhooks"):
        ctx.report.not_imported(
            f'outgoing webhook "{hook.get("name")}" ({hook.get("trigger_type")})',
            f"{hook.get('http_method')} {hook.get('url')}: outgoing webhooks with their own "
            "triggers, templates and headers have no equivalent (a policy's webhook target "
            "posts the incident as JSON)",
        )
    return routes


def _channels(route: dict[str, Any]) -> list[str]:
    """The chat channels a route names (Slack channel, Telegram chat …): none map."""
    found = []
    for name in ("slack", "telegram", "msteams"):
        settings = route.get(name)
        if isinstance(settings, dict) and (settings.get("channel_id") or settings.get("id")):
            found.append(name)
    return found


def _map_route(
    ctx: Context,
    route: dict[str, Any],
    integration: str,
    source: str,
    kind: str,
    catch_all: dict[str, str],
    name: str,
) -> list[dict[str, Any]]:
    default = bool(route.get("is_the_last_route"))
    subject = f"{integration}, " + (
        "default route" if default else f"route {route.get('position')}"
    )
    if _channels(route):
        ctx.report.not_imported(
            f"{subject} channels",
            f"it posts to {', '.join(_channels(route))}: no equivalent (a repo or team "
            "Matrix room takes their place)",
        )
    policy = ctx.policies.get(str(route.get("escalation_chain_id")))
    if policy is None:
        ctx.report.not_imported(
            subject,
            "its escalation chain was not imported"
            if route.get("escalation_chain_id")
            else "it has no escalation chain",
        )
        return []
    base = {"source": source}
    if default:
        if source in catch_all:
            ctx.report.partial(
                subject,
                f'its reports come from the same endpoint as those of "{catch_all[source]}", '
                "whose default route comes first: tell them apart with a match by hand",
            )
        catch_all.setdefault(source, name)
        matches: list[dict[str, Any]] | None = [base]
    else:
        text = str(route.get("routing_regex") or "")
        generic = ENDPOINTS[kind][1] is None
        if route.get("routing_type") == "jinja2":
            found = _jinja_match(text, generic)
            matches = None if found is None else [{**base, **found}]
            if found is not None:
                ctx.report.partial(
                    subject,
                    f"jinja2 {text!r} became the match {found}"
                    + (
                        ": the generic events must carry the payload's values in these fields"
                        if generic
                        else " (labels of each alert)"
                    ),
                )
        elif generic:
            matches = None
        else:
            found_list = _regex_matches(text)
            matches = None if found_list is None else [{**base, **m} for m in found_list]
            if matches is not None:
                ctx.report.partial(
                    subject,
                    f"regex {text!r} searched the alert's whole JSON text; here it matches "
                    "the alert's label" + (" (one route per value)" if len(matches) > 1 else ""),
                )
        if matches is None:
            ctx.report.not_imported(
                subject,
                f"{route.get('routing_type')} filter {text!r} has no equivalent: routes here "
                "match fields and labels with globs; add the route by hand",
            )
            return []
    return [
        {"order": 0, "match": match, "policy": policy, "action": "page"} for match in matches or []
    ]
