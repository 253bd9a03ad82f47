"""The routing configuration (routes, silences, repos, default policy, the match of every
active watch), read by every delivery and cached per process.

A change to any of these models bumps a generation counter in the shared cache
(Redis when configured), so every process rebuilds its copy on the next delivery;
copies also expire after ``MAX_AGE``, which is all that bounds them without a
shared cache (a laptop) or while Redis is unreachable (the cache then answers as
an empty one, oncall/cache.py: ingest goes on with copies at most ``MAX_AGE`` old).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from django.core.cache import cache

from escalation import matching
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Repo, Route, Silence, Watch

GENERATION_KEY = "escalation:config-generation"
MAX_AGE = 10.0  # seconds


class Config:
    def __init__(self) -> None:
        self.routes = list(
            Route.objects.select_related("repo", "policy").prefetch_related("forward_to")
        )
        self.silences = list(Silence.objects.all())
        self.default_policy = EscalationPolicy.objects.filter(is_default=True).first()
        self.repos = {r.name: r for r in Repo.objects.select_related("policy")}
        self.watches = list(Watch.objects.filter(active=True).values_list("pk", "match"))

    def watched(self, values: list[dict[str, str]]) -> list[int]:
        """The active watches (their ids) one of these reports' ``fields()`` matches."""
        return [pk for pk, match in self.watches if any(matching.matches(match, v) for v in values)]

    def route(self, report: Report) -> Route | None:
        values = report.fields()
        return next((r for r in self.routes if matching.matches(r.match, values)), None)

    def repo(self, name: str) -> Repo | None:
        return self.repos.get(name)

    def silence(self, report: Report, now: datetime) -> Silence | None:
        values = report.fields()
        return next(
            (
                s
                for s in self.silences
                if s.starts <= now < s.ends and matching.matches(s.match, values)
            ),
            None,
        )


_lock = threading.Lock()
_copy: tuple[Any, float, Config] | None = None


def current() -> Config:
    """This process's copy of the configuration, rebuilt when it changed anywhere."""
    global _copy
    generation = cache.get(GENERATION_KEY, 0)
    copy = _copy
    if copy is not None and copy[0] == generation and time.monotonic() - copy[1] < MAX_AGE:
        return copy[2]
    config = Config()
    with _lock:
        _copy = (generation, time.monotonic(), config)
    return config


def invalidate(**kwargs: Any) -> None:
    """Drop every process's copy (a signal receiver of every routing model)."""
    global _copy
    with _lock:
        _copy = None
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, 1, timeout=None)


# A watch's sign of life, its token and its incident change nothing cached here.
WATCH_STATE = frozenset({"last_seen", "due_at", "incident", "ping_digest", "ping_issued_at"})


def _watch_saved(update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    if update_fields is None or not update_fields <= WATCH_STATE:
        invalidate()


def connect() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    for model in (Route, Silence, EscalationPolicy, Repo):
        post_save.connect(invalidate, sender=model, dispatch_uid=f"config-{model.__name__}-save")
        post_delete.connect(invalidate, sender=model, dispatch_uid=f"config-{model.__name__}-del")
    m2m_changed.connect(invalidate, sender=Route.forward_to.through, dispatch_uid="config-forward")
    post_save.connect(_watch_saved, sender=Watch, dispatch_uid="config-Watch-save")
    post_delete.connect(invalidate, sender=Watch, dispatch_uid="config-Watch-del")
