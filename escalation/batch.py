"""What the engine writes for a batch of incidents, in one statement per table.

The engine decides each incident's next step in Python and records here the
notification rows, the timeline entries and the incident fields it changes;
``flush`` writes them with one ``INSERT … ON CONFLICT DO NOTHING`` (notification keys
are unique, so a replay never doubles a page), one ``INSERT`` of timeline entries and
one ``UPDATE`` per set of changed fields, then wakes delivery once for the rows due now
(and once per later due time, for a person's delayed rules) after the commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from escalation import delivery
from escalation.models import Incident, Notification, TimelineEntry
from escalation.targets import Recipient

PAGES = (Notification.Kind.PAGE, Notification.Kind.REPAGE)


@dataclass
class Writes:
    now: datetime
    notifications: list[Notification] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    #: Changed incidents by the tuple of fields to write.
    changed: dict[tuple[str, ...], dict[int, Incident]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    _paged: set[int] | None = None

    def notify(
        self,
        incident: Incident,
        recipients: Iterable[Recipient],
        *,
        kind: str,
        key: str,
        step: int = 0,
        round: int = 0,  # noqa: A002
        ping: int = 0,
        target: dict[str, Any] | None = None,
    ) -> None:
        """Notification rows keyed ``key`` + recipient. A recipient's ``delay`` (a
        personal rule) makes its row due that much later: the row exists from now on,
        so a claim meanwhile cancels it and a restarted worker's sweep still sends it."""
        self.notifications.extend(
            Notification(
                incident=incident,
                key=(f"{key}:{r.channel}:{r.address}" + (f":d{r.delay}" if r.delay else ""))[:300],
                kind=kind,
                channel=r.channel,
                address=r.address,
                person=r.person,
                target=target or {},
                step=step,
                round=round,
                ping=ping,
                created_at=self.now,
                next_attempt_at=self.now + timedelta(seconds=r.delay),
            )
            for r in recipients
        )

    def note(self, incident: Incident, detail: str, kind: str = TimelineEntry.Kind.ESCALATED):
        self.timeline.append(
            TimelineEntry(
                incident=incident, kind=kind, channel="escalation", detail=detail, at=self.now
            )
        )

    def save(self, incident: Incident, *fields: str) -> None:
        self.changed[fields][incident.pk] = incident

    def paged(self, incident: Incident, among: Iterable[Incident]) -> bool:
        """Whether ``incident`` was ever paged (rows written or about to be); the
        database is asked once for every incident of ``among``."""
        if any(n.incident_id == incident.pk and n.kind in PAGES for n in self.notifications):
            return True
        if self._paged is None:
            self._paged = set(
                Notification.objects.filter(
                    incident__in=[i.pk for i in among], kind__in=PAGES
                ).values_list("incident_id", flat=True)
            )
        return incident.pk in self._paged

    def flush(self) -> list[int]:
        """Write everything; the ids of the notification rows created now (delivery of
        those is queued for when the transaction commits)."""
        found: list[tuple[int, datetime]] = []
        if self.notifications:
            Notification.objects.bulk_create(self.notifications, ignore_conflicts=True)
            keys = [n.key for n in self.notifications]
            found = list(
                Notification.objects.filter(key__in=keys, created_at=self.now)
                .order_by("pk")
                .values_list("pk", "next_attempt_at")
            )
        if self.timeline:
            TimelineEntry.objects.bulk_create(self.timeline)
        for fields, incidents in self.changed.items():
            _update(list(incidents.values()), fields)
        later: dict[datetime, list[int]] = defaultdict(list)
        for pk, due in found:
            if due > self.now:
                later[due].append(pk)
        delivery.schedule([pk for pk, due in found if due <= self.now])
        for due, ids in later.items():
            delivery.schedule(ids, eta=due)
        self.notifications, self.timeline, self.changed = [], [], defaultdict(dict)
        self._paged = None
        return [pk for pk, _ in found]


def _update(incidents: list[Incident], fields: tuple[str, ...]) -> None:
    """One ``UPDATE … FROM (VALUES …)`` of ``fields`` for every incident (Django's
    ``bulk_update`` builds a CASE per row and field: it took most of a sweep's time)."""
    meta = Incident._meta
    columns = [cast(Field, meta.pk), *(cast(Field, meta.get_field(name)) for name in fields)]
    typed = connection.vendor == "postgresql"  # SQLite's CAST would change the values
    slots = (f"CAST(%s AS {c.db_type(connection)})" if typed else "%s" for c in columns)
    row = "(" + ", ".join(slots) + ")"
    q = connection.ops.quote_name
    names = [q(c.column) for c in columns]
    table, pk = q(meta.db_table), names[0]
    values = ", ".join([row] * len(incidents))
    assign = ", ".join(f"{n} = v.{n}" for n in names[1:])
    # Names from the model, values as parameters:
    sql = f"WITH v({', '.join(names)}) AS (VALUES {values}) UPDATE {table} SET {assign} "  # noqa: S608
    sql += f"FROM v WHERE {table}.{pk} = v.{pk}"
    # psycopg takes the values as they are; SQLite's need Django's conversion.
    params = [
        getattr(i, c.attname) if typed else c.get_db_prep_save(getattr(i, c.attname), connection)
        for i in incidents
        for c in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
