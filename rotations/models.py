"""People, teams, rotations (as effective-dated versions) and overrides.

Who is on call is never stored: ``rotations.schedule`` computes it from these rows.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.timezone import now

matrix_id_validator = RegexValidator(
    r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?$", "A Matrix user ID like @alice:example.org."
)


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone.") from None


class FeedMixin(models.Model):
    """A secret ICS feed: only the SHA-256 of its token is kept (``rotations.feeds``)."""

    feed_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    feed_issued_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class Person(FeedMixin):
    handle = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    matrix_id = models.CharField(max_length=255, blank=True, validators=[matrix_id_validator])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    active = models.BooleanField(default=True, help_text="Inactive people are skipped.")
    inactive_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when the person is deactivated: shifts before it stay theirs.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        help_text="The login that acts as this person in the web UI.",
    )

    class Meta:
        ordering = ["handle"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name or self.handle

    def save(self, *args: object, **kwargs: object) -> None:
        if self.active:
            self.inactive_since = None
        elif self.inactive_since is None:
            self.inactive_since = now()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class Team(FeedMixin):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(Person, blank=True, related_name="teams")
    matrix_room = models.CharField(
        max_length=255, blank=True, help_text="Room ID (!abc:example.org) or alias."
    )
    email = models.EmailField(blank=True, help_text="The team's mailing list.")
    leads = models.ManyToManyField(
        Person,
        blank=True,
        related_name="led_teams",
        help_text="Team leads may put others on call and approve swaps.",
    )
    swap_approval = models.BooleanField(
        default=False, help_text="A taken swap becomes an override only once a lead approves it."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Rotation(FeedMixin):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="rotations"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class RotationVersion(models.Model):
    """The definition of a rotation from ``effective_from`` until the next version.

    ``effective_from`` is the date of the version's first handoff, at
    ``handoff_time`` in ``timezone``; earlier shifts belong to earlier versions
    and never change. The first shift goes to ``members[offset]``.
    """

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="versions")
    effective_from = models.DateField()
    shift_days = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    handoff_time = models.TimeField()
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    offset = models.PositiveIntegerField(default=0)
    active_windows = models.JSONField(
        default=list,
        blank=True,
        help_text='Days and hours in the time zone, e.g. [{"days": ["mon", "tue"], '
        '"start": "09:00", "end": "17:00"}]; outside them nobody is on call. Empty: always.',
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["rotation", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["rotation", "effective_from"], name="one_version_per_rotation_and_date"
            ),
            models.CheckConstraint(condition=Q(shift_days__gte=1), name="shift_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.rotation} from {self.effective_from}"

    def starts_at(self) -> datetime:
        tz = zoneinfo.ZoneInfo(self.timezone)
        return datetime.combine(self.effective_from, self.handoff_time, tzinfo=tz)


class RotationMember(models.Model):
    version = models.ForeignKey(RotationVersion, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="member_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.position}: {self.person}"


class Override(models.Model):
    """``person`` covers the rotation in [start, end); the later-created one wins overlaps.

    Deleting an override only marks it (``deleted_at``), so feeds can tell
    calendar apps that the shifts it touched changed.
    """

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="overrides")
    backup = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Backup during the override; empty keeps the rotation's backup.",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["rotation", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="override_end_after_start"
            ),
        ]
        indexes = [
            # The schedule loads a rotation's live overrides that overlap a window.
            models.Index(
                fields=["rotation", "end"],
                condition=Q(deleted_at__isnull=True),
                name="override_live_by_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} covers {self.rotation} {self.start:%Y-%m-%d %H:%M}"


class HandoffNotice(models.Model):
    """One notice to a person about one shift; the unique key makes it once per shift
    however many beat or worker processes race for it."""

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", "shift starts soon"
        STARTED = "started", "shift started"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="notices")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notices")
    shift_start = models.DateTimeField()
    shift_end = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-shift_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["rotation", "person", "shift_start", "kind"],
                name="one_notice_per_shift_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.person} {self.rotation} {self.shift_start:%Y-%m-%d %H:%M}"


class Swap(models.Model):
    """A request to cover part of someone's shifts (``kind`` request) or a cover offered
    the other way (``kind`` cover); once taken (and approved, where the team asks for it)
    it is ``override`` for ``taken_by`` over [start, end). Rules: docs/rotations.md."""

    class State(models.TextChoices):
        OPEN = "open"
        TAKEN = "taken"
        APPROVED = "approved"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        REQUEST = "request", "cover asked for by the person on call"
        COVER = "cover", "cover offered by or for the person who covers"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="swaps")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REQUEST)
    requester = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="swaps_asked")
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    offered_to = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only this person may take it (a cover proposed for them).",
    )
    taken_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="swaps_taken"
    )
    note = models.CharField(max_length=500, blank=True)
    override = models.OneToOneField(
        Override, null=True, blank=True, on_delete=models.SET_NULL, related_name="swap"
    )
    created_at = models.DateTimeField(default=now)
    taken_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="swap_end_after_start"),
        ]
        indexes = [
            # The overlap check: a rotation's live (not cancelled) swaps ending after a time.
            models.Index(
                fields=["rotation", "end"],
                condition=~Q(state="cancelled"),
                name="swap_live_by_end",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.requester} {self.rotation} {self.start:%Y-%m-%d} ({self.state})"


class SwapMessage(models.Model):
    """A chat message announcing an open swap (a Matrix event id), so a reaction on it
    takes the swap."""

    swap = models.ForeignKey(Swap, on_delete=models.CASCADE, related_name="messages")
    event_id = models.CharField(max_length=255, unique=True)
    room = models.CharField(max_length=255)

    def __str__(self) -> str:
        return f"{self.event_id} → #{self.swap_id}"


class SwapNotice(models.Model):
    """The notices of one change of a swap (e-mails and room messages), written with the
    change, sent by a task; the beat sends any the broker lost (``rotations.swap_notices``)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    swap = models.ForeignKey(Swap, on_delete=models.CASCADE, related_name="notices")
    event = models.CharField(max_length=10)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["swap", "event"], name="one_notice_per_swap_event"),
        ]
        indexes = [
            # The beat's query: pending notices by age.
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="swap_notice_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.swap_id} {self.event} ({self.status})"


class ScheduleGeneration(models.Model):
    """One row: a random stamp replaced, in the same transaction, by every change of what
    schedules are computed from (``rotations.generation``). Readers in any process compare
    it with the stamp their cached schedules were loaded under; a stamp never comes back,
    not even after a rollback."""

    value = models.BigIntegerField()

    def __str__(self) -> str:
        return str(self.value)
