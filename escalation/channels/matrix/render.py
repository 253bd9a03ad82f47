"""What the bot writes: the incident message (edited as it changes), thread replies,
confirmations. Each is a plain ``body`` and an HTML ``formatted_body``; people are
mentioned with pills (matrix.to links) and listed in ``m.mentions``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from html import escape
from typing import Any

from django.conf import settings
from django.utils import timezone

from escalation.markup import workflow_html
from escalation.models import Incident, Notification
from rotations.models import Person

HTML = "org.matrix.custom.html"
Kind = Notification.Kind


def hhmm(at: datetime | None) -> str:
    return f"{at.astimezone(UTC):%H:%M} UTC" if at else ""


def day(at: datetime) -> str:
    return f"{at.astimezone(UTC):%a %d %b %H:%M} UTC"


def who(person: Person | None) -> tuple[str, str]:
    """(plain, html) naming a person, with a pill when they have a Matrix ID."""
    if person is None:
        return "nobody", "nobody"
    if not person.matrix_id:
        return person.name, escape(person.name)
    link = f"https://matrix.to/#/{person.matrix_id}"
    return (
        f"{person.name} ({person.matrix_id})",
        f'<a href="{escape(link)}">{escape(person.name)}</a>',
    )


def mentions(*people: Person | None) -> dict[str, Any]:
    return {"user_ids": sorted({p.matrix_id for p in people if p is not None and p.matrix_id})}


def reactions_help() -> str:
    keys = {action: key for key, action in settings.MATRIX_REACTIONS.items()}
    mute = settings.MATRIX_MUTE_SECONDS
    span = "a day" if mute == 86400 else f"{mute // 3600} h" if mute % 3600 == 0 else f"{mute} s"
    return (
        f"react {keys.get('claim', '👀')} to claim, {keys.get('resolve', '✅')} to resolve, "
        f"{keys.get('mute', '🔇')} to mute for {span}"
    )


def status(incident: Incident, now: datetime | None = None) -> str:
    """The status line: what state the incident is in, how often it failed."""
    now = now or timezone.now()
    n = incident.occurrences
    failed = (
        f"failed once at {hhmm(incident.first_seen)}"
        if n <= 1
        else (f"failed {n} times, last {hhmm(incident.last_seen)}")
    )
    if incident.state == Incident.State.RESOLVED:
        if incident.resolved_by is None:
            line = f"✅ Recovered at {hhmm(incident.resolved_at)}: the job passed again"
        else:
            line = f"✅ Resolved by {incident.resolved_by.name} at {hhmm(incident.resolved_at)}"
    elif incident.state == Incident.State.CLAIMED and incident.claimed_by is not None:
        line = f"👀 Claimed by {incident.claimed_by.name} at {hhmm(incident.claimed_at)}"
    else:
        line = "🔴 Open"
    if incident.state != Incident.State.RESOLVED and incident.is_muted(now):
        assert incident.muted_until is not None  # noqa: S101 (is_muted)
        line += f" · 🔇 muted until {day(incident.muted_until)}"
    return f"{line} · {failed}"


def category(incident: Incident) -> str:
    """ "Category: infrastructure (result NODE_FAILURE)", and the note that it was not
    forwarded when a route would have forwarded a compliance failure; "" without one."""
    if not incident.category:
        return ""
    reason = f" ({incident.category_reason})" if incident.category_reason else ""
    note = incident.not_forwarded_note
    return f"Category: {incident.category}{reason}" + (f" · {note}" if note else "")


def incident_link(incident: Incident) -> str:
    return f"{settings.ONCALL_BASE_URL}/incidents/{incident.pk}/"


def owners(people: list[Person]) -> tuple[str, str]:
    """(plain, html): who is responsible (on call, then backups) as pills, or that
    nobody is and where to fix it. Naming them does not ping them (``m.mentions``)."""
    if not people:
        coverage = f"{settings.ONCALL_BASE_URL}/coverage/"
        text = "⚠️ No one is responsible for this repo — "
        return (
            f"{text}`!cover`, or see {coverage}",
            f'{escape(text)}<code>!cover</code>, or see <a href="{escape(coverage)}">'
            f"{escape(coverage)}</a>",
        )
    named = [who(p) for p in people]
    plain, html = f"Responsible: {named[0][0]}", f"Responsible: {named[0][1]}"
    if len(named) > 1:
        plain += " · backup: " + ", ".join(n[0] for n in named[1:])
        html += " · backup: " + ", ".join(n[1] for n in named[1:])
    return plain, html


def root(
    incident: Incident, paged: Person | None, responsible: list[Person] | None = None
) -> dict[str, Any]:
    """The incident message; ``paged`` is mentioned (and pinged), ``responsible`` (the
    repo's on-call person and backups; [] when nobody) named while it is unresolved;
    None leaves them out."""
    title = " · ".join(x for x in (incident.result or "FAILURE", incident.repo) if x)
    where = ", ".join(x for x in (incident.pipeline, incident.branch) if x)
    job = f"{incident.job} ({where})" if where else incident.job
    plain = [f"{title} · {job} — #{incident.pk}", status(incident)]
    html = [
        f"<p><strong>{escape(title)}</strong> · <code>{escape(job)}</code> — "
        f'<a href="{escape(incident_link(incident))}">#{incident.pk}</a></p>',
        f"<p>{escape(status(incident))}</p>",
    ]
    if kind := category(incident):
        plain.append(kind)
        html.append(f"<p>{escape(kind)}</p>")
    if incident.summary:
        plain.append(incident.summary)
        html.append(f"<p>{escape(incident.summary)}</p>")
    links = [(label, url) for label, url in (("Build", incident.url), ("Logs", incident.log_url))]
    links = [(label, url) for label, url in links if url]
    if links:
        plain.append(" · ".join(f"{label}: {url}" for label, url in links))
        html.append(
            "<p>" + " · ".join(f'<a href="{escape(u)}">{label}</a>' for label, u in links) + "</p>"
        )
    if incident.workflow:
        plain.append(f"Workflow:\n{incident.workflow}")
        html.append(f"<p><strong>Workflow</strong></p>{workflow_html(incident.workflow)}")
    if incident.state != Incident.State.RESOLVED:
        if responsible is not None:
            line, line_html = owners(responsible)
            plain.append(line)
            html.append(f"<p>{line_html}</p>")
        name, pill = who(paged)
        ask = reactions_help()
        plain.append(f"{name}: {ask}." if paged else f"{ask[0].upper()}{ask[1:]}.")
        html.append(f"<p>{pill}: {escape(ask)}.</p>" if paged else f"<p>{escape(ask)}.</p>")
    return {
        "msgtype": "m.text",
        "body": "\n".join(plain),
        "format": HTML,
        "formatted_body": "\n".join(html),
        "m.mentions": mentions(paged),
    }


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def edit(event_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """An ``m.replace`` of ``event_id``: nobody is mentioned again by the edit itself."""
    return {
        "msgtype": content["msgtype"],
        "body": f"* {content['body']}",
        "format": HTML,
        "formatted_body": f"* {content['formatted_body']}",
        "m.new_content": content,
        "m.mentions": {},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


def in_thread(
    root_id: str, plain: str, html: str, *, notify: list[Person | None]
) -> dict[str, Any]:
    """A thread reply to the incident message; ``notify`` are mentioned (and paged)."""
    return {
        # m.notice does not notify by default push rules: right for confirmations only.
        "msgtype": "m.text" if any(notify) else "m.notice",
        "body": plain,
        "format": HTML,
        "formatted_body": html,
        "m.mentions": mentions(*notify),
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root_id},
        },
    }


def page_reply(n: Notification, root_id: str) -> dict[str, Any]:
    """A re-ping, escalation step or reminder as a reply in the incident's thread."""
    name, pill = who(n.person)
    age = timezone.now() - n.incident.first_seen
    minutes = max(1, int(age.total_seconds() // 60))
    if n.kind == Kind.REPAGE:
        text = f"🔔 Reminder {n.ping}: {{who}}, this is still unclaimed ({minutes} min)."
    elif n.kind == Kind.CLAIM_REMINDER:
        text = "⏰ {who}, you claimed this; still on it? React ✅ when it is resolved."
    elif n.kind == Kind.ASSIGNED:
        text = "👉 {who}, this incident is now assigned to you."
    elif n.kind == Kind.RESPONDER:
        text = "🙋 {who}, you are asked to help with this incident."
    elif n.kind == Kind.FALLBACK:
        text = "⚠️ Nobody on the escalation policy could be reached: {who}, please look."
    elif n.step or n.round:
        text = f"⬆️ Escalated (step {n.step + 1}): {{who}}, please look."
    else:
        text = "🔔 {who}, you are paged for this incident."
    if n.person is None:
        name = pill = "everyone here"
    return in_thread(
        root_id,
        text.format(who=name),
        escape(text).format(who=pill),
        notify=[n.person],
    )


def reply(root_id: str, text: str) -> dict[str, Any]:
    """A confirmation in the thread (a notice: it informs, it does not page)."""
    return in_thread(root_id, text, escape(text), notify=[])


def notice(
    text: str, html: str | None = None, *, notify: tuple[Person | None, ...] = ()
) -> dict[str, Any]:
    """A message in the room (not in a thread)."""
    return {
        "msgtype": "m.text" if any(notify) else "m.notice",
        "body": text,
        "format": HTML,
        "formatted_body": html if html is not None else escape(text),
        "m.mentions": mentions(*notify),
    }
