"""Secret ICS feeds of a person's, a rotation's or a team's shifts (docs/api.md, "Feeds").

A feed token is ``<kind>_<secret>`` (kind ``p``, ``t`` or ``r`` names the table to
look in); only its SHA-256 is stored in ``feed_digest``, so issuing a new token
kills the old one and the database never holds a usable feed URL. The secret is an
HMAC under ``SECRET_KEY`` of (kind, id, ``feed_issued_at``), so the web UI can show
the current link again (``current_token``) without storing it.

Every event is one final shift (overrides applied). Its UID depends only on
(rotation, person, start), so a calendar app keeps the event when the shift is cut
or extended, and SEQUENCE / LAST-MODIFIED come from ``Shift.changed_at`` so they
grow whenever the shift changes. Times are written in UTC: the events do not
recur, so a VTIMEZONE adds nothing but room for disagreement between readers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, CharField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import get_resolver
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_safe

from oncall.models import hash_secret
from rotations import generation, ics, schedule, selectors
from rotations.models import Person, Rotation, Team

KINDS: dict[str, type[Person] | type[Team] | type[Rotation]] = {
    "p": Person,
    "t": Team,
    "r": Rotation,
}
PRODID = "-//oncall//Rotation feeds//EN"
REFRESH = timedelta(hours=1)
REFRESH_ICS = "PT1H"  # REFRESH as an RFC 5545 DURATION
# SEQUENCE is the age of the shift's last change in whole seconds since this
# instant: it only grows, and fits the 32-bit INTEGER of RFC 5545 until 2088.
SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
# Bump when the rendering changes, so cached bodies and ETags of the old format go.
FORMAT_VERSION = 2
# Names are single-line at input, but older rows, the admin or a future form may hold
# line breaks: an unescaped one breaks the feed (icalendar refuses it) and a bare CR
# would start a new content line of the reader's choosing.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
BODY_CACHE_SECONDS = 24 * 3600
# How far past the window feeds look to know when a cached body goes stale.
HORIZON = timedelta(days=1)


def one_line(text: str) -> str:
    """``text`` with control characters (line breaks included) as single spaces."""
    return CONTROL.sub(" ", text).strip()


def _derive(obj: Person | Team | Rotation, issued_at: datetime) -> str:
    kind = next(k for k, model in KINDS.items() if isinstance(obj, model))
    micros = (issued_at - SEQUENCE_EPOCH) // timedelta(microseconds=1)
    mac = salted_hmac("oncall.rotations.feeds", f"{kind}:{obj.pk}:{micros}", algorithm="sha256")
    return f"{kind}_{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"


def issue_token(obj: Person | Team | Rotation) -> str:
    """Give ``obj`` a new feed token and return it; the old token stops working.

    Only the token's hash is stored; ``current_token`` derives the secret again.
    """
    issued_at = timezone.now()
    if obj.feed_issued_at is not None and issued_at <= obj.feed_issued_at:
        issued_at = obj.feed_issued_at + timedelta(microseconds=1)  # a reset always changes it
    secret = _derive(obj, issued_at)
    obj.feed_digest = hash_secret(secret)
    obj.feed_issued_at = issued_at
    obj.save(update_fields=["feed_digest", "feed_issued_at"])
    return secret


def current_token(obj: Person | Team | Rotation) -> str | None:
    """The live token of ``obj``, or None when it has none or it cannot be derived (issued
    before tokens were derived, or under another ``SECRET_KEY``: only a reset shows one)."""
    if not obj.feed_digest or obj.feed_issued_at is None:
        return None
    secret = _derive(obj, obj.feed_issued_at)
    return secret if hash_secret(secret) == obj.feed_digest else None


def ensure_token(obj: Person | Team | Rotation) -> str | None:
    """``current_token``, issuing the first token of an object that never had one (no
    link to kill, so a page may do it; of two at once, the first wins)."""
    ensure_tokens([obj])
    return current_token(obj)


def ensure_tokens(objs: Sequence[Person | Team | Rotation]) -> None:
    """Issue the first token of each of ``objs`` (one model) that never had one, in two
    queries however many there are (API lists show the links); of two at once, the
    first wins."""
    missing = [obj for obj in objs if obj.feed_digest is None]
    if not missing:
        return
    model = type(missing[0])
    issued_at = timezone.now()
    digests = {obj.pk: hash_secret(_derive(obj, issued_at)) for obj in missing}
    model.objects.filter(pk__in=digests, feed_digest__isnull=True).update(
        feed_digest=Case(
            *(When(pk=pk, then=Value(digest)) for pk, digest in digests.items()),
            output_field=CharField(),
        ),
        feed_issued_at=issued_at,
    )
    stored = {
        pk: (digest, at)
        for pk, digest, at in model.objects.filter(pk__in=digests).values_list(
            "pk", "feed_digest", "feed_issued_at"
        )
    }
    for obj in missing:
        obj.feed_digest, obj.feed_issued_at = stored.get(obj.pk, (None, None))


def feed_urls(secret: str) -> dict[str, str]:
    """The absolute feed URLs of ``secret`` under ``ONCALL_BASE_URL``."""
    # The resolver's own reverse() leaves out the request's script prefix, which
    # ONCALL_BASE_URL already contains when the service runs below a path.
    path = get_resolver().reverse("feed", token=secret)
    ical_url = f"{settings.ONCALL_BASE_URL}/{path}"
    return {"ical_url": ical_url, "webcal_url": "webcal://" + ical_url.split("://", 1)[1]}


def window(at: datetime) -> tuple[datetime, datetime]:
    """The span a feed covers when fetched at ``at``."""
    return (
        at - timedelta(days=settings.ONCALL_FEED_DAYS_BACK),
        at + timedelta(days=settings.ONCALL_FEED_DAYS_AHEAD),
    )


def uid(rotation: Rotation, person: Person, start: datetime) -> str:
    # Primary keys rather than slug and handle: renaming either must not make
    # every calendar app drop and re-add all events.
    host = urlsplit(settings.ONCALL_BASE_URL).hostname or "oncall"
    return f"shift-r{rotation.pk}-p{person.pk}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}@{host}"


def sequence(changed_at: datetime | None) -> int:
    if changed_at is None:
        return 0
    return max(0, int((changed_at - SEQUENCE_EPOCH).total_seconds()))


def _feed_shifts(
    loaded: Sequence[selectors.LoadedRotation],
    span: tuple[datetime, datetime],
    person: Person | None = None,
) -> list[tuple[Rotation, schedule.Shift]]:
    """The final shifts with somebody on duty (``person`` only, when given), by start."""
    found = [
        (item.rotation, shift)
        for item in loaded
        for shift in item.shifts(*span)
        if shift.person is not None and (person is None or schedule.same(shift.person, person))
    ]
    found.sort(key=lambda pair: (pair[1].start, pair[0].slug, pair[1].end))
    return found


def _event(rotation: Rotation, shift: schedule.Shift) -> list[str]:
    person = cast(Person, shift.person)
    # DTSTAMP is the shift's last change, not the time of the request: the same
    # schedule must give the same body, or the ETag would never match.
    changed = ics.utc(shift.changed_at or SEQUENCE_EPOCH)
    team = one_line(rotation.team.name) if rotation.team else "none"
    summary = f"On call: {one_line(rotation.name)} — {one_line(person.name or person.handle)}"
    override = "yes" if shift.override else "no"
    description = f"Rotation: {one_line(rotation.name)}\nTeam: {team}\nOverride: {override}"
    return [
        "BEGIN:VEVENT",
        "SUMMARY:" + ics.text(summary + (" (override)" if shift.override else "")),
        f"DTSTART:{ics.utc(shift.start)}",
        f"DTEND:{ics.utc(shift.end)}",
        f"DTSTAMP:{changed}",
        "UID:" + ics.text(uid(rotation, person, shift.start)),
        f"SEQUENCE:{sequence(shift.changed_at)}",
        "DESCRIPTION:" + ics.text(description),
        f"LAST-MODIFIED:{changed}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def render(name: str, shifts: Sequence[tuple[Rotation, schedule.Shift]]) -> bytes:
    """The feed's body: the calendar's properties, then one VEVENT per shift."""
    content = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        # Unescaped, as icalendar wrote it (an X- property of unknown type).
        f"X-WR-CALNAME:{one_line(name)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH_ICS}",
        f"X-PUBLISHED-TTL:{REFRESH_ICS}",
    ]
    for rotation, shift in shifts:
        content += _event(rotation, shift)
    content.append("END:VCALENDAR")
    return ics.lines(content)


def _not_found() -> HttpResponse:
    # Deliberately not the API's JSON error nor the HTML 404 page: nothing that
    # tells a guesser more than "no".
    return HttpResponse(b"Not found", status=404, content_type="text/plain; charset=utf-8")


def _rotations(query: QuerySet[Rotation]) -> QuerySet[Rotation]:
    return query.select_related("team").order_by("slug")


def _owner(token: str) -> Person | Team | Rotation | None:
    """The live owner of ``token`` (a rotation with its team), carrying the schedule
    generation as ``stamp``: one query."""
    kind, _, rest = token.partition("_")
    if kind not in KINDS or not rest:
        return None
    digest = hash_secret(token)
    stamp = generation.stamp_subquery()
    if kind == "r":
        rotations = Rotation.objects.select_related("team").filter(feed_digest=digest)
        return rotations.annotate(stamp=stamp).first()
    model = Person if kind == "p" else Team
    return model.objects.filter(feed_digest=digest).annotate(stamp=stamp).first()


def _lookup(
    owner: Person | Team | Rotation, span: tuple[datetime, datetime]
) -> tuple[str, list[selectors.LoadedRotation], Person | None]:
    """(calendar name, loaded rotations, person to keep) of a feed's owner: three queries
    for a rotation, four for a team or person (``selectors.load``)."""
    if isinstance(owner, Rotation):
        loaded = selectors.load([owner], span, include_deleted=True)
        return f"On call: {owner.name}", loaded, None
    if isinstance(owner, Team):
        query = _rotations(Rotation.objects.filter(team=owner))
        return f"On call: {owner.name}", selectors.load(query, span, include_deleted=True), None
    query = _rotations(selectors.rotations_of_person(owner))
    loaded = selectors.load(query, span, include_deleted=True)
    return f"On call: {owner.name or owner.handle}", loaded, owner


def fingerprint(name: str, shifts: Sequence[tuple[Rotation, schedule.Shift]]) -> str:
    """A digest of everything the body shows: equal digests render equal bodies."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}|{name}|{settings.ONCALL_BASE_URL}".encode())
    for rotation, shift in shifts:
        person = cast(Person, shift.person)
        team = rotation.team.name if rotation.team else ""
        digest.update(
            f"|{rotation.pk},{rotation.name},{team},{person.pk},{person.name},{person.handle},"
            f"{shift.start.timestamp()},{shift.end.timestamp()},{shift.override},"
            f"{shift.changed_at.timestamp() if shift.changed_at else 0}".encode()
        )
    return digest.hexdigest()[:32]


def _valid_until(
    shifts: Sequence[tuple[Rotation, schedule.Shift]], now: datetime, horizon_end: datetime
) -> datetime:
    """Until when the feed fetched at ``now`` shows the same shifts, the schedule
    unchanged: the first instant a shown shift leaves the window or one beyond it (all
    of them up to ``horizon_end``) enters."""
    start, end = window(now)
    moments = [horizon_end - (end - now)]
    for _, shift in shifts:
        if shift.start < end:
            moments.append(shift.end + (now - start))
        else:
            moments.append(shift.start - (end - now) + schedule.EPSILON)
    return min(moments)


def _build(owner: Person | Team | Rotation, now: datetime) -> tuple[str, bytes, datetime]:
    """(ETag, body, valid until) of the feed at ``now``."""
    span = window(now)
    beyond = span[1] + HORIZON  # the shifts entering soon, to know when the body goes stale
    name, loaded, person = _lookup(owner, (span[0], beyond))
    reaching = _feed_shifts(loaded, (span[0], beyond), person)
    shifts = [pair for pair in reaching if pair[1].start < span[1]]
    etag = f'"{fingerprint(name, shifts)}"'
    return etag, render(name, shifts), _valid_until(reaching, now, beyond)


def _cache_key(token: str, stamp: int) -> str:
    parts = (
        f"{FORMAT_VERSION}|{settings.ONCALL_BASE_URL}|{settings.ONCALL_FEED_DAYS_BACK}|"
        f"{settings.ONCALL_FEED_DAYS_AHEAD}|{hash_secret(token)}|{stamp}"
    )
    return "ical:" + hashlib.sha256(parts.encode()).hexdigest()[:40]


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponseBase:
    """``GET /ical/<token>.ics``: the feed, or a bare 404 for an unknown or revoked token.

    The rendered feed is cached under the token and the schedule generation (which every
    schedule change replaces), until the first shift enters or leaves the window: a
    cached answer is one query (the owner, with the generation) and a cache read.
    ``If-None-Match`` answers 304.
    """
    now = timezone.now()
    owner = _owner(token)
    if owner is None:
        return _not_found()
    stamp = owner.stamp  # type: ignore[union-attr]
    key = _cache_key(token, stamp) if stamp is not None else None
    hit = cache.get(key) if key else None
    if hit is not None and hit[2] <= now < hit[3]:
        etag, body = hit[0], hit[1]
    else:
        etag, body, until = _build(owner, now)
        if key:
            seconds = min(BODY_CACHE_SECONDS, (until - now).total_seconds())
            cache.set(key, (etag, body, now, until), timeout=max(1, int(seconds)))
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        not_modified["ETag"] = etag
        return not_modified
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=300"
    return response
