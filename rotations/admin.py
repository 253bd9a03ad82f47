"""Admin for configuration: people, teams, rotations (edited through the services, so
edits become versions and past shifts never change), overrides and notices.

Lists do a constant number of queries per page: foreign keys are selected with the
rows, many-to-many columns prefetched, and "on call now" is computed for the whole
page at once (``selectors.oncall_now``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from rotations import generation, selectors, services, windows
from rotations.models import (
    HandoffNotice,
    Override,
    Person,
    Rotation,
    RotationVersion,
    Swap,
    SwapMessage,
    SwapNotice,
    Team,
)


def nobody(person: object) -> str:
    return str(person) if person is not None else "nobody"


class TeamMembershipInline(admin.TabularInline):
    model = Team.members.through
    verbose_name = "team"
    verbose_name_plural = "teams"
    autocomplete_fields = ["team"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("team")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = [
        "handle",
        "name",
        "email",
        "matrix_id",
        "timezone",
        "active",
        "team_list",
        "login",
    ]
    list_filter = ["active", "timezone", "teams"]
    list_select_related = ["user"]
    search_fields = ["handle", "name", "email", "matrix_id", "user__username"]
    ordering = ["handle"]
    autocomplete_fields = ["user"]
    readonly_fields = ["inactive_since", "feed_issued_at"]
    inlines = [TeamMembershipInline]
    actions = ["deactivate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="teams")
    def team_list(self, person: Person) -> str:
        return ", ".join(team.slug for team in person.teams.all())

    @admin.display(description="login", ordering="user__username")
    def login(self, person: Person) -> str:
        if person.user is None:
            return "-"
        opts = person.user._meta
        try:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[person.user.pk])
        except NoReverseMatch:
            return person.user.get_username()
        return format_html('<a href="{}">{}</a>', url, person.user.get_username())

    @admin.action(description="Deactivate the selected people (their past shifts stay)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Person]) -> None:
        people = list(queryset.filter(active=True))
        for person in people:  # save() dates the deactivation; update() would not
            person.active = False
            person.save(update_fields=["active", "inactive_since"])
        self.message_user(request, f"{len(people)} deactivated.", messages.SUCCESS)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "member_count", "matrix_room", "email"]
    search_fields = ["slug", "name", "matrix_room", "email"]
    ordering = ["slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["members", "leads"]
    readonly_fields = ["feed_issued_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count  # type: ignore[attr-defined]


class RotationForm(forms.ModelForm):
    members = forms.CharField(help_text="Handles in order, separated by commas.")
    shift_days = forms.IntegerField(min_value=1, initial=14)
    handoff_time = forms.TimeField(initial="09:00")
    timezone = forms.CharField(initial="Europe/Berlin")
    active_windows = forms.JSONField(
        required=False,
        initial=list,
        help_text='Empty: always active. E.g. [{"days": ["mon", "fri"], "start": "09:00", '
        '"end": "17:00"}] in the time zone; outside them nobody is on call.',
    )
    effective_from = forms.DateField(
        help_text="New rotation: the date of the first handoff. Edit: the date the new "
        "definition starts (a future handoff); earlier shifts never change."
    )

    class Meta:
        model = Rotation
        fields = ["slug", "name", "team"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            current = services.current_version(self.instance, timezone.now())
            if current:
                self.initial.update(
                    members=", ".join(m.person.handle for m in current.members.all()),
                    shift_days=current.shift_days,
                    handoff_time=current.handoff_time,
                    timezone=current.timezone,
                    active_windows=current.active_windows,
                )
            upcoming = services.next_handoff(self.instance, timezone.now())
            self.initial["effective_from"] = upcoming.date() if upcoming else None

    def clean_members(self) -> list[Person]:
        handles = [h.strip() for h in self.cleaned_data["members"].split(",") if h.strip()]
        people = {p.handle: p for p in Person.objects.filter(handle__in=handles)}
        unknown = [h for h in handles if h not in people]
        if unknown:
            raise ValidationError(f"Unknown people: {', '.join(unknown)}")
        return [people[h] for h in handles]

    def clean_active_windows(self) -> tuple[windows.Window, ...]:
        try:
            return windows.parse(self.cleaned_data.get("active_windows") or [])
        except windows.WindowError as error:
            raise ValidationError(
                [f"{k}: {' '.join(v)}" for k, v in error.errors.items()]
            ) from None

    def clean(self) -> dict[str, Any]:
        """An edit must start in the future: refuse the whole form (name and team too)
        rather than save part of it and report the schedule error afterwards."""
        data = super().clean() or {}
        day, at, zone = (data.get(k) for k in ("effective_from", "handoff_time", "timezone"))
        if not (self.instance.pk and self.schedule_changed() and day and at and zone):
            return data
        try:
            begins = datetime.combine(day, at, tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            self.add_error("timezone", "Unknown time zone.")
            return data
        if begins < timezone.now():
            self.add_error(
                "effective_from",
                f"Must not be in the past: past shifts never change ({begins:%Y-%m-%d %H:%M %Z}).",
            )
        return data

    def spec(self) -> services.ScheduleSpec:
        data = self.cleaned_data
        return services.ScheduleSpec(
            data["members"],
            data["shift_days"],
            data["handoff_time"],
            data["timezone"],
            data.get("active_windows", ()),
        )

    def schedule_changed(self) -> bool:
        return any(
            name in self.changed_data
            for name in ("members", "shift_days", "handoff_time", "timezone", "active_windows")
        )


class VersionInline(admin.TabularInline):
    """The members of each version, read-only: editing the rotation above adds a version
    from a future handoff on, so earlier shifts never change."""

    model = RotationVersion
    fields = readonly_fields = (
        "effective_from",
        "member_list",
        "shift_days",
        "handoff_time",
        "timezone",
        "windows",
        "created_at",
    )
    extra = 0
    can_delete = False
    verbose_name_plural = "versions and their members (edit the rotation above to add one)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[RotationVersion]:
        return super().get_queryset(request).prefetch_related("members__person")

    @admin.display(description="active windows")
    def windows(self, version: RotationVersion) -> str:
        return windows.describe(windows.parse(version.active_windows)) or "always"

    @admin.display(description="members in order")
    def member_list(self, version: RotationVersion) -> str:
        return ", ".join(m.person.handle for m in version.members.all())


class OverrideInline(admin.TabularInline):
    model = Override
    fk_name = "rotation"
    fields = ["person", "backup", "start", "end", "reason"]
    autocomplete_fields = ["person", "backup"]
    extra = 0
    verbose_name_plural = "overrides (live, ended less than 30 days ago)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Override]:
        return (
            super()
            .get_queryset(request)
            .filter(deleted_at__isnull=True, end__gt=timezone.now() - timedelta(days=30))
            .select_related("person", "backup")
        )


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    form = RotationForm
    list_display = ["slug", "name", "team", "members_now", "on_call_now", "backup_now"]
    list_filter = ["team"]
    list_select_related = ["team"]
    search_fields = ["slug", "name", "team__slug", "team__name"]
    ordering = ["slug"]
    autocomplete_fields = ["team"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [VersionInline, OverrideInline]
    readonly_fields = ["upcoming_shifts"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rotation]:
        return super().get_queryset(request).prefetch_related(selectors.versions_prefetch())

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # One load for the whole page instead of one per row. The result goes on the
        # rows, not on this admin: one instance serves every request and thread.
        now = timezone.now()
        page = list(changelist.result_list)
        found = selectors.oncall_now(page, now)
        for rotation in page:
            rotation.oncall_now = found.get(rotation.pk)
            rotation.current = services.current_version(rotation, now)
        return changelist

    @admin.display(description="members")
    def members_now(self, rotation: Rotation) -> str:
        version = getattr(rotation, "current", None)
        if version is None:
            return "-"
        return ", ".join(m.person.handle for m in version.members.all())

    @admin.display(description="on call now")
    def on_call_now(self, rotation: Rotation) -> str:
        oncall = getattr(rotation, "oncall_now", None)
        return nobody(oncall.primary if oncall else None)

    @admin.display(description="backup now")
    def backup_now(self, rotation: Rotation) -> str:
        oncall = getattr(rotation, "oncall_now", None)
        return nobody(oncall.backup if oncall else None)

    @admin.display(description="next shifts")
    def upcoming_shifts(self, rotation: Rotation) -> str:
        if not rotation.pk:
            return "-"
        now = timezone.now()
        shifts = selectors.load_one(rotation).shifts(now, now + timedelta(days=90))
        return format_html_join(
            "\n",
            "<div>{} → {}: <b>{}</b>{}</div>",
            (
                (
                    f"{s.start:%Y-%m-%d %H:%M}",
                    f"{s.end:%Y-%m-%d %H:%M} UTC",
                    s.person or "nobody",
                    " (override)" if s.override else "",
                )
                for s in shifts
            ),
        )

    def save_model(self, request: HttpRequest, obj: Rotation, form: Any, change: bool) -> None:
        if not change:
            created = services.create_rotation(
                slug=obj.slug,
                name=obj.name,
                team=obj.team,
                spec=form.spec(),
                start=form.cleaned_data["effective_from"],
            )
            obj.pk = created.pk
            return
        obj.save()
        if form.schedule_changed():
            try:
                services.edit_schedule(obj, form.spec(), form.cleaned_data["effective_from"])
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), level="error")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Override:
            instances = formset.save(commit=False)
            for instance in instances:
                instance.save()
            for deleted in formset.deleted_objects:
                services.delete_override(deleted)
            return
        super().save_formset(request, form, formset, change)


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin):
    list_display = ["rotation", "person", "backup", "start", "end", "reason", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter), "rotation"]
    list_select_related = ["rotation", "person", "backup"]
    search_fields = ["person__handle", "person__name", "reason", "rotation__slug"]
    autocomplete_fields = ["rotation", "person", "backup"]
    date_hierarchy = "start"
    ordering = ["-start"]

    def delete_model(self, request: HttpRequest, obj: Override) -> None:
        services.delete_override(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Override]) -> None:
        queryset.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())
        generation.bump()


@admin.register(HandoffNotice)
class HandoffNoticeAdmin(admin.ModelAdmin):
    list_display = ["rotation", "person", "kind", "shift_start", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "rotation"]
    list_select_related = ["rotation", "person"]
    search_fields = ["person__handle", "rotation__slug"]
    date_hierarchy = "shift_start"
    readonly_fields = [f.name for f in HandoffNotice._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class SwapMessageInline(admin.TabularInline):
    model = SwapMessage
    extra = 0
    can_delete = False
    readonly_fields = ["event_id", "room"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SwapNoticeInline(admin.TabularInline):
    model = SwapNotice
    extra = 0
    can_delete = False
    readonly_fields = ["event", "status", "attempts", "error", "created_at", "sent_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Swap)
class SwapAdmin(admin.ModelAdmin):
    """The record of swaps (who asked, who took, approved, cancelled, when); read-only:
    changes go through the API, the web page or the room, so the people hear of them."""

    list_display = ["id", "rotation", "kind", "requester", "start", "end", "state", "taken_by"]
    list_filter = ["state", "kind", "rotation"]
    list_select_related = ["rotation", "requester", "taken_by"]
    search_fields = ["requester__handle", "taken_by__handle", "rotation__slug", "note"]
    date_hierarchy = "start"
    readonly_fields = [f.name for f in Swap._meta.fields]
    inlines = [SwapNoticeInline, SwapMessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
