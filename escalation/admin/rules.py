"""View-only records of people's notification rules, the bot's DM rooms and contact
changes waiting for confirmation. Rules are changed by the person (/me/) or through
the API, which validate them (docs/notifications.md)."""

from __future__ import annotations

from django.contrib import admin

from escalation.admin.matrix import ViewOnly
from escalation.models import ContactChange, MatrixDirectRoom, NotificationRules


@admin.register(NotificationRules)
class NotificationRulesAdmin(ViewOnly):
    list_display = ["person", "rules", "repings", "quiet_start", "quiet_end", "updated_at"]
    list_select_related = ["person"]
    search_fields = ["person__handle", "person__name"]


@admin.register(MatrixDirectRoom)
class MatrixDirectRoomAdmin(ViewOnly):
    list_display = ["user_id", "room_id", "created_at"]
    search_fields = ["user_id", "room_id"]


@admin.register(ContactChange)
class ContactChangeAdmin(ViewOnly):
    list_display = ["person", "field", "value", "attempts", "created_at"]
    list_select_related = ["person"]
    search_fields = ["person__handle", "value"]
