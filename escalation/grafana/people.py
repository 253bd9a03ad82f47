"""Users → people, teams → teams; personal notification rules → the report."""

from __future__ import annotations

from typing import Any

from escalation.grafana.context import Context

RULE_NAMES = {
    "notify_by_email": "e-mail",
    "notify_by_sms": "SMS",
    "notify_by_phone_call": "phone call",
    "notify_by_slack": "Slack",
    "notify_by_telegram": "Telegram",
    "notify_by_mobile_app": "mobile app",
    "notify_by_mobile_app_critical": "mobile app (critical)",
    "notify_by_msteams": "MS Teams",
}


def map_people(ctx: Context) -> list[dict[str, Any]]:
    people = []
    viewers = []
    for user in ctx.items("users"):
        username = str(user.get("username") or user.get("email") or user["id"])
        handle = ctx.slug("person", username, fallback=str(user["id"]).lower())
        ctx.people[user["id"]] = handle
        ctx.usernames[user["id"]] = username
        people.append(
            {
                "handle": handle,
                "name": username,
                "email": user.get("email") or "",
                "timezone": user.get("timezone") or "UTC",
            }
        )
        if user.get("role") == "viewer":
            viewers.append(username)
    if people:
        ctx.report.partial(
            "users",
            "Grafana OnCall's public API gives no display names: each person's name is their "
            "username; phone numbers and Slack/Telegram accounts have no place here.",
        )
    for username in viewers:
        ctx.report.partial(
            f'user "{username}"',
            "a Viewer in Grafana (never notified, left out of its schedules); here a person "
            "is paged like anyone else: remove them from rotations and steps if that matters.",
        )
    return people


def map_teams(ctx: Context) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = {}
    for user in ctx.items("users"):
        for team_id in user.get("teams") or []:
            members.setdefault(team_id, []).append(ctx.people[user["id"]])
    teams = []
    for team in ctx.items("teams"):
        slug = ctx.slug("team", str(team.get("name") or team["id"]), str(team["id"]).lower())
        ctx.teams[team["id"]] = slug
        ctx.team_members[slug] = members.get(team["id"], [])
        teams.append(
            {"slug": slug, "name": team.get("name") or slug, "members": members.get(team["id"], [])}
        )
        if team.get("email"):
            ctx.report.not_imported(
                f'team "{team.get("name")}" e-mail {team["email"]}',
                "here a team's e-mail receives the team's pages instead of its members "
                "(Grafana pages the members): set it by hand if that is what you want.",
            )
    return teams


def report_rules(ctx: Context) -> None:
    """Personal rules are per person here (``/api/v1/people/{handle}/rules/``), not part
    of the configuration document: each user's rules are listed for redoing by hand."""
    rules: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for rule in ctx.items("personal_notification_rules"):
        key = (str(rule.get("user_id")), bool(rule.get("important")))
        rules.setdefault(key, []).append(rule)
    for (user_id, important), found in rules.items():
        found.sort(key=lambda r: r.get("position", 0))
        words = []
        for rule in found:
            if rule.get("type") == "wait":
                words.append(f"wait {rule.get('duration') or 0} s")
            else:
                words.append(RULE_NAMES.get(str(rule.get("type")), str(rule.get("type"))))
        which = "important" if important else "default"
        ctx.report.not_imported(
            f'notification rules of "{ctx.user_name(user_id)}" ({which})',
            " → ".join(words) + ". Personal rules are not part of the configuration "
            "document: set them with PUT /api/v1/people/{handle}/rules/ (channels e-mail, "
            "Matrix DM, webhook); mobile app, SMS, phone call, Slack, Telegram and MS Teams "
            "have no equivalent.",
        )
