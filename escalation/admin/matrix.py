"""View-only records of the Matrix bot: its messages per incident, the room events it
handled (reactions, redactions, commands, including ignored ones), its sync position."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from escalation.models import MatrixEvent, MatrixMessage, MatrixSync


class ViewOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MatrixEvent)
class MatrixEventAdmin(ViewOnly):
    list_display = ["at", "kind", "text", "sender", "person", "incident", "action", "outcome"]
    list_filter = ["kind", "action"]
    list_select_related = ["person", "incident"]
    search_fields = ["sender", "text", "outcome", "event_id", "room"]
    date_hierarchy = "at"
    ordering = ["-at", "-pk"]


@admin.register(MatrixMessage)
class MatrixMessageAdmin(ViewOnly):
    list_display = ["created_at", "incident", "room", "event_id", "root", "edits", "edited_at"]
    list_filter = ["root"]
    list_select_related = ["incident"]
    search_fields = ["event_id", "room"]
    ordering = ["-created_at", "-pk"]


@admin.register(MatrixSync)
class MatrixSyncAdmin(ViewOnly):
    """Deleting the row makes the listener start over from the current position."""

    list_display = ["user_id", "updated_at"]
