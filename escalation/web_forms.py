"""Forms of the web UI's incident pages: the list's filters and the mute duration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from escalation.selectors import TABS, IncidentFilters
from escalation.services.lifecycle import MAX_MUTE

UNITS = {"minutes": 1, "hours": 60, "days": 60 * 24}
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class IncidentFilterForm(forms.Form):
    """GET parameters of ``/incidents/``; bad values fall back to "all" rather than fail."""

    state = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False)
    repo = forms.CharField(required=False, max_length=255, label="Repository")
    team = forms.CharField(required=False, max_length=64)
    category = forms.CharField(required=False, max_length=50)

    def filters(self) -> IncidentFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return IncidentFilters(
            tab=data.get("state") or "active",
            repo=(data.get("repo") or "").strip(),
            team=data.get("team") or "",
            category=data.get("category") or "",
        )


class MuteForm(forms.Form):
    """Mute for ``minutes`` (the preset buttons), for ``amount`` ``unit`` (custom), or
    until a local time (``until``, in the viewer's time zone). At most 90 days."""

    minutes = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    amount = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_MUTE // timedelta(minutes=1), label="Mute for"
    )
    unit = forms.ChoiceField(
        choices=[(u, u) for u in UNITS], initial="hours", required=False, label="Unit"
    )
    until = forms.DateTimeField(
        required=False,
        input_formats=LOCAL_FORMATS,
        label="or until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMATS[0]),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        now = timezone.now()
        given = [k for k in ("minutes", "amount", "until") if data.get(k) is not None]
        if len(given) != 1:
            raise forms.ValidationError("Give either a duration or an end time.")
        until: datetime
        if data.get("until") is not None:
            until = data["until"]
        else:
            minutes = data.get("minutes") or data["amount"] * UNITS[data.get("unit") or "hours"]
            if minutes > MAX_MUTE.total_seconds() // 60:
                raise forms.ValidationError(f"A mute can last at most {MAX_MUTE.days} days.")
            until = now + timedelta(minutes=minutes)
        if until <= now:
            self.add_error("until", "Must be in the future.")
        elif until - now > MAX_MUTE:
            self.add_error("until", f"A mute can last at most {MAX_MUTE.days} days.")
        data["mute_until"] = until
        return data
