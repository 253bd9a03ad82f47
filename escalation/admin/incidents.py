"""Admin for incidents and notifications: view-only.

Incidents change only through ``escalation.services.lifecycle``: the change page is
view-only (a form save would write back every column over the engine's
compare-and-set updates), and the list's actions call the services as the person
linked to the admin's login, with the timeline channel ``admin``.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import Truncator

from escalation import selectors as escalation_selectors
from escalation.models import Incident, Notification, Occurrence, Responder, TimelineEntry
from escalation.services import lifecycle
from rotations import selectors

CHANNEL = "admin"  # the timeline's channel for what admins do here
LATEST = 50  # rows shown by each read-only inline of an incident


class MutedFilter(admin.SimpleListFilter):
    title = "muted now"
    parameter_name = "muted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(muted_until__gt=timezone.now())
        if self.value() == "no":
            return queryset.exclude(muted_until__gt=timezone.now())
        return queryset


class LatestFormSet(BaseInlineFormSet):
    """Only the first ``LATEST`` rows of the inline's ordering (newest first)."""

    def get_queryset(self) -> Any:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:LATEST]
        return self._latest


class ReadOnlyInline(admin.TabularInline):
    formset = LatestFormSet
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TimelineInline(ReadOnlyInline):
    model = TimelineEntry
    fields = readonly_fields = ("at", "kind", "actor", "channel", "detail")
    ordering = ["-at", "-pk"]
    verbose_name_plural = f"timeline (latest {LATEST}, newest first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimelineEntry]:
        return super().get_queryset(request).select_related("actor")


class NotificationInline(ReadOnlyInline):
    model = Notification
    fields = readonly_fields = (
        "created_at",
        "kind",
        "channel",
        "address",
        "person",
        "step",
        "status",
        "attempts",
        "sent_at",
        "error",
    )
    ordering = ["-created_at", "-pk"]
    show_change_link = True
    verbose_name_plural = f"notifications (latest {LATEST}, newest first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return super().get_queryset(request).select_related("person")


class ResponderInline(ReadOnlyInline):
    model = Responder
    fields = readonly_fields = ("person", "team", "added_by", "added_at")
    ordering = ["added_at", "pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Responder]:
        return super().get_queryset(request).select_related("person", "team", "added_by")


class OccurrenceInline(ReadOnlyInline):
    model = Occurrence
    fields = readonly_fields = ("received_at", "occurred_at", "delivery_key", "report")
    ordering = ["-received_at", "-pk"]
    verbose_name_plural = f"occurrences (latest {LATEST}, newest first)"

    @admin.display(description="report")
    def report(self, occurrence: Occurrence) -> str:
        return Truncator(json.dumps(occurrence.payload, sort_keys=True)).chars(300)


def _why(incident: Incident, action: str) -> str:
    """Why ``action`` was illegal, from the state the service found."""
    if incident.state == Incident.State.RESOLVED:
        return "already resolved"
    if action == "claim":
        return "claimed by someone else"
    if action == "unclaim":
        return "not claimed"
    if action == "unmute":
        return "not muted"
    return f"it is {incident.state}"


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "state",
        "repo",
        "job",
        "result",
        "category",
        "occurrences",
        "claimed_by",
        "muted_until",
        "step",
        "next_page",
        "last_seen",
    ]
    list_display_links = ["id", "repo"]
    list_filter = ["state", MutedFilter, "category", "source", "repo_ref__team", "owned", "pages"]
    list_select_related = ["claimed_by"]
    search_fields = ["repo", "job", "summary", "dedup_key"]
    date_hierarchy = "last_seen"
    ordering = ["-last_seen"]
    inlines = [ResponderInline, TimelineInline, NotificationInline, OccurrenceInline]
    actions = [
        "claim_selected",
        "resolve_selected",
        "mute_selected",
        "unclaim_selected",
        "unmute_selected",
    ]

    FIELDSETS = [
        (
            "Problem",
            ["state", "source", "repo", "job", "pipeline", "branch", "subject", "result"]
            + ["category", "category_reason", "summary", "url", "log_url", "labels", "dedup_key"],
        ),
        (
            "Who",
            ["repo_ref", "route", "owned", "pages", "workflow", "forwarded", "not_forwarded_to"],
        ),
        (
            "Lifecycle",
            ["occurrences", "first_seen", "last_seen", "claimed_by", "claimed_at"]
            + ["resolved_by", "resolved_at", "muted_until"],
        ),
        (
            "Escalation",
            ["escalation", "policy", "escalation_step", "escalation_round", "escalation_ping"]
            + ["escalation_started_at", "escalation_step_at", "next_escalation_at", "remind_at"]
            + ["min_occurrences", "window_seconds"],
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Incident._meta.fields] + ["forwarded", "escalation"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        listed = {name for _, names in self.FIELDSETS for name in names}
        rest = [f.name for f in Incident._meta.fields if f.name not in listed and f.name != "id"]
        fieldsets = [(title, {"fields": names}) for title, names in self.FIELDSETS]
        return fieldsets + ([("Other", {"fields": rest})] if rest else [])

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Next to "Resolve", a bulk delete that erases the history is one slip away.
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # view-only: changes go through the lifecycle (actions below)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """An incident takes its notifications with it, though they cannot be deleted
        one by one."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(str(Notification._meta.verbose_name))
        return deleted, counts, perms_needed, protected

    def has_act_permission(self, request: HttpRequest) -> bool:
        """The actions need the model's change permission, which the forms never use."""
        return super().has_change_permission(request)

    @admin.display(description="step", ordering="escalation_step")
    def step(self, incident: Incident) -> str:
        steps = (incident.policy or {}).get("steps") or []
        if not steps or incident.escalation_started_at is None:
            return "-"
        if incident.escalation_step >= len(steps):
            return "done"
        where = f"{incident.escalation_step + 1}/{len(steps)}"
        return (
            f"{where} (round {incident.escalation_round + 1})"
            if incident.escalation_round
            else where
        )

    @admin.display(description="next page", ordering="next_escalation_at")
    def next_page(self, incident: Incident) -> Any:
        view = escalation_selectors.escalation_view(incident)
        return view["next_at"] if view and view["next_at"] else "-"

    @admin.display(description="escalation now")
    def escalation(self, incident: Incident) -> str:
        view = escalation_selectors.escalation_view(incident)
        if view is None:
            return "no policy"
        when = view["next_at"].isoformat() if view["next_at"] else "none"
        return f"policy {view['policy']}, step {view['step'] + 1}, next page: {when}"

    @admin.display(description="forwarded to")
    def forwarded(self, incident: Incident) -> str:
        return ", ".join(str(contact) for contact in incident.forwarded_to.all()) or "-"

    def _act(
        self,
        request: HttpRequest,
        queryset: QuerySet[Incident],
        action: lifecycle.Action,
        done: str,
        until: datetime | None = None,
    ) -> None:
        """``lifecycle.perform`` per incident as the admin's person; report counts."""
        person = selectors.person_for_user(request.user)
        if person is None:
            self.message_user(
                request,
                f"Nothing was {done}: your login is not linked to a person. Set the "
                "“user” of your entry under People first.",
                messages.ERROR,
            )
            return
        count, skipped = 0, Counter[str]()
        for incident in queryset.order_by("pk"):
            mine = incident.state == Incident.State.CLAIMED and incident.claimed_by_id == person.pk
            if action == "claim" and mine:  # the service's no-op: say so, count it apart
                skipped["already yours"] += 1
                continue
            try:
                lifecycle.perform(incident, action, by=person, channel=CHANNEL, until=until)
            except lifecycle.InvalidState as error:
                skipped[_why(error.incident, action)] += 1
                continue
            count += 1
        text = f"{count} {done}"
        if skipped:
            reasons = list(skipped.items())
            why = reasons[0][0] if len(reasons) == 1 else ", ".join(f"{n} {r}" for r, n in reasons)
            text += f", {skipped.total()} skipped: {why}"
        self.message_user(request, text + ".", messages.WARNING if skipped else messages.SUCCESS)

    @admin.action(description="Claim selected", permissions=["act"])
    def claim_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._act(request, queryset, lifecycle.Action.CLAIM, "claimed")

    @admin.action(description="Resolve selected", permissions=["act"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._act(request, queryset, lifecycle.Action.RESOLVE, "resolved")

    @admin.action(description="Mute selected for 1 day", permissions=["act"])
    def mute_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        until = timezone.now() + timedelta(days=1)
        self._act(request, queryset, lifecycle.Action.MUTE, "muted", until)

    @admin.action(description="Unclaim selected", permissions=["act"])
    def unclaim_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._act(request, queryset, lifecycle.Action.UNCLAIM, "unclaimed")

    @admin.action(description="Unmute selected", permissions=["act"])
    def unmute_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._act(request, queryset, lifecycle.Action.UNMUTE, "unmuted")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """View-only: the record of who was paged, when and how the send went."""

    list_display = [
        "id",
        "created_at",
        "incident",
        "kind",
        "channel",
        "address",
        "person",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "channel", "kind"]
    list_select_related = ["incident", "person"]
    search_fields = ["address", "key"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
