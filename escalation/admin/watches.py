"""Admin for watches (docs/watches.md): the ping URL is shown here, to staff only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from escalation.models import Repo, Watch
from escalation.services import watches
from escalation.watch_views import ping_url


class WatchForm(forms.ModelForm):
    class Meta:
        model = Watch
        fields = [
            "slug",
            "name",
            "match",
            "every_seconds",
            "grace_seconds",
            "repo",
            "policy",
            "active",
        ]

    def clean_match(self) -> Any:
        match = self.cleaned_data["match"]
        problems = watches.match_problems(match)
        if problems:
            raise forms.ValidationError(problems)
        return match


@admin.register(Watch)
class WatchAdmin(admin.ModelAdmin):
    form = WatchForm
    list_display = ["slug", "name", "every_seconds", "grace_seconds", "repo", "active", "state"]
    list_select_related = ["repo"]
    list_filter = ["active"]
    search_fields = ["slug", "name"]
    readonly_fields = ["state", "last_seen", "due_at", "incident", "ping"]
    change_list_template = "escalation/admin/watch_changelist.html"
    actions = ["reset_ping"]

    @admin.display(description="ping URL")
    def ping(self, watch: Watch) -> str:
        secret = watches.current_token(watch) if watch.pk else None
        return ping_url(secret) if secret else "-"

    def save_model(self, request: HttpRequest, watch: Watch, form: Any, change: bool) -> None:
        watch.due_at = watches.due_at(watch, watch.last_seen or watch.created_at)
        super().save_model(request, watch, form, change)
        if not change:
            watches.issue_token(watch)

    @admin.action(description="Reset the ping URL (the old one stops working)")
    def reset_ping(self, request: HttpRequest, queryset: QuerySet[Watch]) -> None:
        for watch in queryset:
            watches.issue_token(watch)
        self.message_user(request, f"{queryset.count()} ping URL(s) reset.", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.suggestions_view)
        return [
            path("suggestions/", view, name="escalation_watch_suggestions"),
            *super().get_urls(),
        ]

    def suggestions_view(self, request: HttpRequest) -> HttpResponse:
        """The learned cadence (``watches.suggestions``): tick, one click, created."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        now = timezone.now()
        found = watches.suggestions(now)
        if request.method == "POST":
            chosen = set(request.POST.getlist("slug"))
            created = 0
            for row in found:
                if row["slug"] in chosen and not Watch.objects.filter(slug=row["slug"]).exists():
                    watch = Watch(
                        slug=row["slug"],
                        name=row["name"],
                        match=row["match"],
                        every_seconds=row["every_seconds"],
                        grace_seconds=row["grace_seconds"],
                        repo=Repo.objects.filter(name=row["repo"]).first(),
                        created_at=now,
                    )
                    watch.due_at = watches.due_at(watch, now)
                    watch.save()
                    watches.issue_token(watch)
                    created += 1
            self.message_user(request, f"{created} watch(es) created.", messages.SUCCESS)
            return redirect("admin:escalation_watch_changelist")
        context = {**self.admin_site.each_context(request), "suggestions": found}
        context["title"] = "Suggested watches"
        return TemplateResponse(request, "escalation/admin/watch_suggestions.html", context)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"match": {}}
