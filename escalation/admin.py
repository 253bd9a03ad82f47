"""Admin for configuration (repos, routes, policies, contacts, silences) and a
read-only view of incidents with claim/resolve actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from escalation import matching, policies
from escalation.models import (
    Contact,
    EscalationPolicy,
    Incident,
    Repo,
    Route,
    Silence,
    TimelineEntry,
)
from escalation.services import lifecycle
from rotations import selectors
from rotations.models import Person


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "email", "matrix_id"]
    search_fields = ["slug", "name", "email"]


class PolicyForm(forms.ModelForm):
    class Meta:
        model = EscalationPolicy
        fields = ["slug", "name", "steps", "repeat", "claim_timeout_seconds", "is_default"]

    def clean_steps(self) -> Any:
        steps = self.cleaned_data["steps"]
        problems = policies.validate_steps(steps)
        if problems:
            raise forms.ValidationError(problems)
        return steps


@admin.register(EscalationPolicy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ["slug", "name", "is_default", "repeat", "claim_timeout_seconds"]
    search_fields = ["slug", "name"]


class RouteInline(admin.TabularInline):
    model = Route
    fields = ["order", "match", "category", "policy", "action", "min_occurrences", "window_seconds"]
    extra = 0


@admin.register(Repo)
class RepoAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "rotation", "backup_rotation", "policy"]
    list_filter = ["team", "policy"]
    search_fields = ["name"]
    autocomplete_fields = ["team", "rotation", "backup_rotation"]
    inlines = [RouteInline]


class MatchForm(forms.ModelForm):
    def clean_match(self) -> Any:
        match = self.cleaned_data["match"]
        problems = matching.validate_match(match)
        if problems:
            raise forms.ValidationError([f"{k}: {', '.join(v)}" for k, v in problems.items()])
        return match


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    form = MatchForm
    list_display = ["order", "match", "repo", "category", "policy", "action", "min_occurrences"]
    list_display_links = ["match"]
    list_editable = ["order"]
    list_filter = ["action", "category", "policy"]
    autocomplete_fields = ["repo"]
    filter_horizontal = ["forward_to"]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    form = MatchForm
    list_display = ["match", "starts", "ends", "comment", "created_by"]
    date_hierarchy = "starts"
    autocomplete_fields = ["created_by"]


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    fields = readonly_fields = ("at", "kind", "actor", "channel", "detail")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _person(request: HttpRequest) -> Person | None:
    return selectors.person_for_user(request.user)


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
        "last_seen",
        "claimed_by",
        "muted_until",
        "owned",
    ]
    list_filter = ["state", "category", "owned", "pages", "source"]
    search_fields = ["repo", "job", "summary", "dedup_key"]
    date_hierarchy = "last_seen"
    list_select_related = ["claimed_by"]
    inlines = [TimelineInline]
    actions = ["claim_selected", "resolve_selected"]
    exclude = ["forwarded_to"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Incidents change through their lifecycle only (timeline, compare-and-set).
        return [f.name for f in Incident._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Incident], run: Any, verb: str
    ) -> None:
        person = _person(request)
        if person is None:
            self.message_user(request, "Link your login to a person first.", messages.ERROR)
            return
        done = 0
        for incident in queryset:
            try:
                run(incident, person)
                done += 1
            except lifecycle.InvalidState:
                continue
        self.message_user(request, f"{verb} {done} incident(s).")

    @admin.action(description="Claim the selected incidents")
    def claim_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._each(request, queryset, lambda i, p: lifecycle.claim(i, p, "web"), "Claimed")

    @admin.action(description="Resolve the selected incidents")
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._each(request, queryset, lambda i, p: lifecycle.resolve(i, p, "web"), "Resolved")
