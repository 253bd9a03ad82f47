"""Swaps and covers: asking for cover of one's own shifts, taking, approving, undoing.

Rules (docs/rotations.md, "Swaps and covers"): a request covers part of the
requester's own final shifts; only a member of the rotation (not the requester)
takes it; where the team asks for approval a lead approves before it counts; a
taken (approved) swap is an override for the taker over [start, end). Nobody is put
on call without their own action or a lead's. Live swaps of a rotation never
overlap (409). Every change is announced (``rotations.swap_notices``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from rotations import schedule, selectors, services, swap_notices
from rotations.models import Person, Rotation, Swap

MAX_SPAN = timedelta(days=366)
LIVE = (Swap.State.OPEN, Swap.State.TAKEN, Swap.State.APPROVED)


class SwapError(Exception):
    """A refused swap action; ``status`` is the HTTP answer (400, 403, 409) and ``code``
    the contract's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> SwapError:
    return SwapError(400, "invalid", message)


def _denied(message: str) -> SwapError:
    return SwapError(403, "permission_denied", message)


def _conflict(message: str) -> SwapError:
    return SwapError(409, "conflict", message)


def is_lead(person: Person | None, rotation: Rotation) -> bool:
    """True when ``person`` leads the rotation's team."""
    if person is None or rotation.team_id is None:
        return False
    return rotation.team.leads.filter(pk=person.pk).exists()  # type: ignore[union-attr]


def members(rotation: Rotation, start: datetime, end: datetime) -> list[Person]:
    """The members of the rotation's versions in force during [start, end)."""
    loaded = selectors.load_one(rotation, (start, end))
    ordered = sorted(loaded.versions, key=lambda d: d.handoff(0))
    found: dict[int, Person] = {}
    for i, version in enumerate(ordered):
        begins = version.handoff(0)
        ends = ordered[i + 1].handoff(0) if i + 1 < len(ordered) else None
        if begins < end and (ends is None or ends > start):
            for member in version.members:
                found.setdefault(member.pk, member)  # type: ignore[arg-type]
    return list(found.values())


def uncovered(rotation: Rotation, person: Person, start: datetime, end: datetime) -> str:
    """Why [start, end) is not wholly the person's own final shifts ("" when it is)."""
    loaded = selectors.load_one(rotation, (start, end))
    at = start
    for shift in loaded.shifts(start, end):
        if shift.end <= at:
            continue
        if shift.start > at or not schedule.same(shift.person, person):
            break
        at = shift.end
        if at >= end:
            return ""
    return (
        f"{person.handle} is not on call for {rotation.slug} throughout that time: "
        f"from {at.isoformat()} the shift is someone else's (or nobody's). Ask for cover "
        "of your own shifts only."
    )


def _check_range(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise _invalid("The end must be after the start.")
    if end <= now:
        raise _invalid("The time is over: a swap must end in the future.")
    if end - start > MAX_SPAN:
        raise _invalid("A swap can last at most a year.")


def _lock_and_check_overlap(rotation: Rotation, start: datetime, end: datetime) -> None:
    """Serialize the swaps of a rotation (row lock) and refuse one overlapping a live one."""
    Rotation.objects.select_for_update().filter(pk=rotation.pk).first()
    clash = (
        Swap.objects.filter(rotation=rotation, state__in=LIVE, end__gt=start, start__lt=end)
        .order_by("start")
        .first()
    )
    if clash is not None:
        raise _conflict(
            f"Swap #{clash.pk} ({clash.state}) already covers {rotation.slug} from "
            f"{clash.start.isoformat()} to {clash.end.isoformat()}; cancel it first."
        )


@transaction.atomic
def request(
    *, rotation: Rotation, requester: Person, start: datetime, end: datetime, note: str = ""
) -> Swap:
    """Ask the other members to cover [start, end) of the requester's own shifts."""
    _check_range(start, end, timezone.now())
    why = uncovered(rotation, requester, start, end)
    if why:
        raise _invalid(why)
    _lock_and_check_overlap(rotation, start, end)
    swap = Swap.objects.create(
        rotation=rotation, requester=requester, start=start, end=end, note=note
    )
    swap_notices.announce(swap, swap_notices.Event.REQUESTED)
    return swap


def _make_override(swap: Swap) -> None:
    assert swap.taken_by is not None  # noqa: S101
    swap.override = services.create_override(
        rotation=swap.rotation,
        person=swap.taken_by,
        start=swap.start,
        end=swap.end,
        reason=f"swap #{swap.pk}: {swap.taken_by.handle} covers for {swap.requester.handle}",
    )
    swap.save(update_fields=["override"])


def _locked(swap: Swap) -> Swap:
    return (
        Swap.objects.select_for_update(of=("self",))
        .select_related("rotation__team", "requester", "taken_by", "offered_to")
        .get(pk=swap.pk)
    )


@transaction.atomic
def cover(
    *,
    rotation: Rotation,
    person: Person,
    start: datetime,
    end: datetime,
    by: Person,
    note: str = "",
) -> Swap:
    """``person`` covers the rotation over [start, end), whoever is on call then. Done at
    once when ``by`` is that person or a team lead; else it is offered to ``person``, who
    takes it (or not) like a request."""
    _check_range(start, end, timezone.now())
    if not any(m.pk == person.pk for m in members(rotation, start, end)):
        raise _denied(f"{person.handle} is not a member of {rotation.slug}.")
    _lock_and_check_overlap(rotation, start, end)
    now = timezone.now()
    lead = is_lead(by, rotation)
    if by.pk != person.pk and not lead:
        swap = Swap.objects.create(
            rotation=rotation,
            kind=Swap.Kind.COVER,
            requester=by,
            offered_to=person,
            start=start,
            end=end,
            note=note,
        )
        swap_notices.announce(swap, swap_notices.Event.OFFERED)
        return swap
    swap = Swap.objects.create(
        rotation=rotation,
        kind=Swap.Kind.COVER,
        requester=by,
        taken_by=person,
        taken_at=now,
        state=Swap.State.APPROVED if lead else Swap.State.TAKEN,
        approved_by=by if lead else None,
        approved_at=now if lead else None,
        start=start,
        end=end,
        note=note,
    )
    _make_override(swap)
    swap_notices.announce(swap, swap_notices.Event.COVERED)
    return swap


@transaction.atomic
def take(swap: Swap, *, by: Person) -> Swap:
    """``by`` takes an open swap: an override at once, or once a lead approves."""
    swap = _locked(swap)
    if swap.state != Swap.State.OPEN:
        raise _conflict(f"Swap #{swap.pk} is {swap.state}, not open.")
    if swap.offered_to_id is not None and swap.offered_to_id != by.pk:
        raise _denied(f"Swap #{swap.pk} is offered to {swap.offered_to.handle} only.")  # type: ignore[union-attr]
    if swap.kind == Swap.Kind.REQUEST and by.pk == swap.requester_id:
        raise _denied("You cannot take your own request; cancel it instead.")
    if not by.active or not any(
        m.pk == by.pk for m in members(swap.rotation, swap.start, swap.end)
    ):
        raise _denied(f"Only members of {swap.rotation.slug} can take its swaps.")
    if swap.end <= timezone.now():
        raise _conflict(f"Swap #{swap.pk} is over.")
    swap.state, swap.taken_by, swap.taken_at = Swap.State.TAKEN, by, timezone.now()
    swap.save(update_fields=["state", "taken_by", "taken_at"])
    if not swap.rotation.team or not swap.rotation.team.swap_approval:
        _make_override(swap)
    swap_notices.announce(swap, swap_notices.Event.TAKEN)
    return swap


@transaction.atomic
def approve(swap: Swap, *, by: Person) -> Swap:
    """A team lead approves a taken swap: it becomes the taker's override."""
    swap = _locked(swap)
    if not is_lead(by, swap.rotation):
        raise _denied(f"Only a lead of {swap.rotation.slug}'s team can approve swaps.")
    if swap.state != Swap.State.TAKEN or swap.override_id is not None:
        raise _conflict(f"Swap #{swap.pk} is {swap.state}; only a taken one awaits approval.")
    if swap.end <= timezone.now():
        raise _conflict(f"Swap #{swap.pk} is over; there is nothing left to approve.")
    swap.state, swap.approved_by, swap.approved_at = Swap.State.APPROVED, by, timezone.now()
    swap.save(update_fields=["state", "approved_by", "approved_at"])
    _make_override(swap)
    swap_notices.announce(swap, swap_notices.Event.APPROVED)
    return swap


@transaction.atomic
def cancel(swap: Swap, *, by: Person) -> Swap:
    """Withdraw an open swap, or undo a taken one before it starts (its override goes)."""
    swap = _locked(swap)
    involved = {swap.requester_id, swap.taken_by_id, swap.offered_to_id} - {None}
    if by.pk not in involved and not is_lead(by, swap.rotation):
        raise _denied("Only the people in the swap or a team lead can cancel it.")
    if swap.state == Swap.State.CANCELLED:
        raise _conflict(f"Swap #{swap.pk} is cancelled already.")
    if swap.state != Swap.State.OPEN and swap.start <= timezone.now():
        raise _conflict(f"Swap #{swap.pk} has started: it can no longer be undone.")
    if swap.override is not None:
        services.delete_override(swap.override)
    swap.state, swap.cancelled_by, swap.cancelled_at = Swap.State.CANCELLED, by, timezone.now()
    swap.save(update_fields=["state", "cancelled_by", "cancelled_at"])
    swap_notices.announce(swap, swap_notices.Event.CANCELLED)
    return swap
