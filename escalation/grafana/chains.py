"""Escalation chains and their policies (steps) → our policies.

A Grafana ``wait`` becomes the next step's ``wait_seconds`` (ours counts from the
previous step's first notification, as Grafana's waits do). ``repeat_escalation``
becomes the policy's ``repeat``: Grafana repeats a chain at most 5 times
(``MAX_TIMES_REPEAT`` in its engine). ``important`` is per step there and per
policy here: a policy is important when any of its notify steps is.

Paging a schedule with levels: our engine moves to the next step at once when a
step reaches nobody, so the schedule's levels become consecutive steps, the highest
level first. When the higher level has somebody, the lower level's step follows
after the wait that followed in Grafana (where it would not be paged at all);
the report says so for each such step.
"""

from __future__ import annotations

from typing import Any

from escalation.grafana.context import Context

GRAFANA_MAX_REPEATS = 5

NO_EQUIVALENT = {
    "trigger_webhook": "outgoing webhooks with their own templates have no equivalent; a "
    "webhook target here posts the incident as JSON: add one by hand if the receiver takes it",
    "resolve": "a policy here never resolves an incident",
    "notify_if_time_from_to": "steps here do not depend on the time of day: the steps after it "
    "run at any time",
    "notify_if_num_alerts_in_window": "steps here do not depend on the number of alerts "
    "(routes have min_occurrences and window_seconds)",
    "notify_user_group": "Slack user groups have no equivalent",
    "notify_whole_channel": "Slack channels have no equivalent",
    "declare_incident": "declaring a Grafana incident has no equivalent",
    "final_notification": "no equivalent",
}


class _Builder:
    def __init__(self, ctx: Context, chain_name: str) -> None:
        self.ctx = ctx
        self.chain = chain_name
        self.steps: list[dict[str, Any]] = []
        self.wait = 0  # seconds waited since the last step's notification
        self.deferred: list[list[dict[str, Any]]] = []  # lower levels waiting for the next wait
        self.deferred_note = ("", "")  # (subject, schedule text) reported once the wait is known
        self.important: list[bool] = []

    def subject(self, policy: dict[str, Any]) -> str:
        return (
            f'escalation chain "{self.chain}", step {policy.get("position")} ({policy.get("type")})'
        )

    def flush(self) -> None:
        """Place the lower levels of the last schedule step, now that the wait after it is
        known (the waits up to the next step that pages, or to the chain's end)."""
        if not self.deferred:
            return
        for targets in self.deferred:
            self.steps.append({"wait_seconds": self.wait, "notify": targets})
        subject, text = self.deferred_note
        self.ctx.report.partial(
            subject,
            f"{text}: one step per level, the highest first; a lower level is paged at once "
            "when the higher has nobody (as in Grafana), and also "
            + (f"after {self.wait} s" if self.wait else "at once")
            + " when the higher has somebody and nobody claimed (not in Grafana)",
        )
        self.wait = 0
        self.deferred = []

    def notify(self, targets: list[dict[str, Any]], important: bool) -> None:
        self.flush()
        self.steps.append({"wait_seconds": self.wait, "notify": targets})
        self.wait = 0
        self.important.append(important)

    def person_targets(self, policy: dict[str, Any], users: list[str]) -> list[dict[str, Any]]:
        known = [u for u in users if u in self.ctx.people]
        if len(known) < len(users):
            self.ctx.report.partial(
                self.subject(policy),
                f"users {', '.join(sorted(set(users) - set(known)))} are unknown: left out",
            )
        return [{"type": "person", "person": self.ctx.people[u]} for u in known]


def _map_chain(ctx: Context, chain: dict[str, Any], policies: list[dict[str, Any]]) -> Any:
    name = str(chain.get("name") or chain["id"])
    b = _Builder(ctx, name)
    repeat = 0
    ordered = sorted(policies, key=lambda p: p.get("position", 0))
    for n, policy in enumerate(ordered):
        kind = policy.get("type")
        important = bool(policy.get("important"))
        if kind == "wait":
            b.wait += int(policy.get("duration") or 0)
        elif kind == "notify_persons":
            targets = b.person_targets(policy, list(policy.get("persons_to_notify") or []))
            if targets:
                b.notify(targets, important)
        elif kind == "notify_person_next_each_time":
            users = list(policy.get("persons_to_notify_next_each_time") or [])
            targets = b.person_targets(policy, users)
            if targets:
                b.notify(targets, important)
                ctx.report.partial(
                    b.subject(policy),
                    "Grafana pages one of them in turn, each time the step runs; round robin "
                    "has no equivalent here: the step pages all of them every time",
                )
        elif kind == "notify_team_members":
            team = ctx.teams.get(str(policy.get("team_to_notify")))
            if team is None:
                ctx.report.not_imported(b.subject(policy), "the team is unknown")
            else:
                b.notify([{"type": "team", "team": team}], important)
        elif kind == "notify_on_call_from_schedule":
            schedule = str(policy.get("notify_on_call_from_schedule"))
            levels = ctx.schedules.get(schedule) or []
            if not levels:
                ctx.report.not_imported(
                    b.subject(policy),
                    f'schedule "{ctx.schedule_names.get(schedule, schedule)}" was not imported',
                )
                continue
            target = [
                [{"type": "oncall", "rotation": r, "role": "primary"} for r in level]
                for level in levels
            ]
            b.notify(target[0], important)
            b.deferred = target[1:]
            b.deferred_note = (
                b.subject(policy),
                f'schedule "{ctx.schedule_names.get(schedule)}" has {len(levels)} levels',
            )
        elif kind == "repeat_escalation":
            repeat = GRAFANA_MAX_REPEATS
            b.flush()  # a schedule's lower levels take the wait before the repeat
            if b.wait:
                ctx.report.partial(
                    b.subject(policy),
                    f"the {b.wait} s wait before the repeat is not kept: the next round "
                    "starts with the first step's own wait",
                )
            rest = ordered[n + 1 :]
            if rest:
                ctx.report.not_imported(
                    f'escalation chain "{name}", steps after the repeat',
                    "Grafana never reaches them",
                )
            break
        else:
            reason = NO_EQUIVALENT.get(str(kind), f"step type {kind} has no equivalent")
            if kind == "trigger_webhook":
                reason += f" (webhook {_webhook(ctx, policy.get('action_to_trigger'))})"
            if kind == "notify_if_time_from_to":
                reason = (
                    f"{policy.get('notify_if_time_from')}–{policy.get('notify_if_time_to')}: "
                    + reason
                )
            ctx.report.not_imported(b.subject(policy), reason)
    b.flush()
    if not b.steps:
        ctx.report.not_imported(f'escalation chain "{name}"', "none of its steps could be imported")
        return None
    important = any(b.important)
    if important and not all(b.important):
        ctx.report.partial(
            f'escalation chain "{name}"',
            "some of its notify steps are important in Grafana and some not; here importance "
            "belongs to the whole policy: it is important",
        )
    return {
        "slug": ctx.slug("policy", name, fallback=str(chain["id"]).lower()),
        "name": name,
        "steps": b.steps,
        "repeat": repeat,
        "claim_timeout_seconds": 0,
        "is_default": False,
        "important": important,
    }


def _webhook(ctx: Context, webhook_id: Any) -> str:
    for hook in ctx.items("webhooks"):
        if hook.get("id") == webhook_id:
            return f'"{hook.get("name")}": {hook.get("http_method")} {hook.get("url")}'
    return str(webhook_id)


def map_chains(ctx: Context) -> list[dict[str, Any]]:
    steps: dict[str, list[dict[str, Any]]] = {}
    for policy in ctx.items("escalation_policies"):
        steps.setdefault(str(policy.get("escalation_chain_id")), []).append(policy)
    policies = []
    for chain in ctx.items("escalation_chains"):
        policy = _map_chain(ctx, chain, steps.get(chain["id"], []))
        if policy is not None:
            ctx.policies[chain["id"]] = policy["slug"]
            policies.append(policy)
    return policies
