"""Admin for the routing configuration: contacts, policies, repos, routes, silences.

Lists do a constant number of queries per page; "on call now" is loaded for the whole
page at once.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from escalation import matching, policies
from escalation.models import Contact, EscalationPolicy, Incident, Repo, Route, Silence
from rotations import selectors


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "email", "matrix_id"]
    search_fields = ["slug", "name", "email", "matrix_id"]
    ordering = ["slug"]
    prepopulated_fields = {"slug": ["name"]}


class PolicyForm(forms.ModelForm):
    class Meta:
        model = EscalationPolicy
        fields = [
            "slug",
            "name",
            "steps",
            "repeat",
            "claim_timeout_seconds",
            "is_default",
            "important",
        ]

    def clean_steps(self) -> Any:
        steps = self.cleaned_data["steps"]
        problems = policies.validate_steps(steps)
        if problems:
            raise forms.ValidationError(problems)
        return steps


@admin.register(EscalationPolicy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = [
        "slug",
        "name",
        "is_default",
        "step_count",
        "repeat",
        "claim_timeout_seconds",
        "repo_count",
    ]
    list_filter = ["is_default"]
    search_fields = ["slug", "name"]
    ordering = ["slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        return super().get_queryset(request).annotate(repo_count=Count("repos"))

    @admin.display(description="steps")
    def step_count(self, policy: EscalationPolicy) -> int:
        return len(policy.steps or [])

    @admin.display(description="repos", ordering="repo_count")
    def repo_count(self, policy: EscalationPolicy) -> int:
        return policy.repo_count  # type: ignore[attr-defined]


class MatchForm(forms.ModelForm):
    def clean_match(self) -> Any:
        match = self.cleaned_data["match"]
        problems = matching.validate_match(match)
        if problems:
            raise forms.ValidationError([f"{k}: {', '.join(v)}" for k, v in problems.items()])
        return match


class RouteInline(admin.TabularInline):
    model = Route
    form = MatchForm
    fields = [
        "order",
        "match",
        "category",
        "policy",
        "forward_to",
        "action",
        "min_occurrences",
        "window_seconds",
    ]
    autocomplete_fields = ["policy", "forward_to"]
    extra = 0


@admin.register(Repo)
class RepoAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "rotation",
        "on_call_now",
        "backup_rotation",
        "policy",
        "open_incidents",
    ]
    list_filter = [("rotation", admin.EmptyFieldListFilter), "team", "policy"]
    list_select_related = ["team", "rotation", "backup_rotation", "policy"]
    search_fields = ["name", "team__slug", "team__name", "rotation__slug"]
    ordering = ["name"]
    autocomplete_fields = ["team", "rotation", "backup_rotation", "policy"]
    inlines = [RouteInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Repo]:
        unresolved = ~Q(incidents__state=Incident.State.RESOLVED)
        return (
            super()
            .get_queryset(request)
            .annotate(open_incidents=Count("incidents", filter=unresolved))
        )

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)
        found = selectors.oncall_now([r.rotation for r in page if r.rotation], timezone.now())
        for repo in page:  # on the rows: this admin serves every request and thread
            oncall = found.get(repo.rotation_id) if repo.rotation_id else None
            repo.oncall_now = oncall
        return changelist

    @admin.display(description="on call now")
    def on_call_now(self, repo: Repo) -> str:
        if repo.rotation_id is None:
            return "nobody: no rotation"
        oncall = getattr(repo, "oncall_now", None)
        primary = oncall.primary if oncall else None
        return str(primary) if primary is not None else "nobody"

    @admin.display(description="unresolved", ordering="open_incidents")
    def open_incidents(self, repo: Repo) -> int:
        return repo.open_incidents  # type: ignore[attr-defined]


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    form = MatchForm
    list_display = [
        "order",
        "match",
        "repo",
        "category",
        "policy",
        "action",
        "forwards",
        "min_occurrences",
    ]
    list_display_links = ["match"]
    list_editable = ["order"]
    list_filter = ["action", "category", "policy"]
    list_select_related = ["repo", "policy"]
    search_fields = ["match", "repo__name", "category", "workflow"]
    ordering = ["order", "pk"]
    autocomplete_fields = ["repo", "policy", "forward_to"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Route]:
        return super().get_queryset(request).prefetch_related("forward_to")

    @admin.display(description="forwards to")
    def forwards(self, route: Route) -> str:
        return ", ".join(contact.slug for contact in route.forward_to.all())


class ActiveSilenceFilter(admin.SimpleListFilter):
    title = "in force now"
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        active = Q(starts__lte=now, ends__gt=now)
        if self.value() == "yes":
            return queryset.filter(active)
        if self.value() == "no":
            return queryset.exclude(active)
        return queryset


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    form = MatchForm
    list_display = ["match", "starts", "ends", "comment", "created_by"]
    list_filter = [ActiveSilenceFilter]
    list_select_related = ["created_by"]
    search_fields = ["match", "comment", "created_by__handle"]
    date_hierarchy = "starts"
    ordering = ["-starts"]
    autocomplete_fields = ["created_by"]

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        if not change and obj.created_by is None:
            obj.created_by = selectors.person_for_user(request.user)
        super().save_model(request, obj, form, change)
