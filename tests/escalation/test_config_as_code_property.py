"""The round trip of configuration as code over generated configurations (hypothesis):
a document applied to an empty database exports as E1; E1 applied to an empty database
exports byte-identically; E1 applied again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalation.config import apply, document
from escalation.config.kinds import KINDS

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
HANDLES = ["alice", "bob", "carol", "dave", "erin", "frank"]
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄé -", min_size=1, max_size=12).map(
    lambda s: s.strip() or "x"
)
GLOB = st.sampled_from(["*", "scs-*", "*-check", "main", "periodic-*"])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def versions(draw: Any, people: list[str]) -> list[dict[str, Any]]:
    """A first version (maybe long past, maybe to come) and up to two future ones."""
    first = date(2026, 12, 8) + timedelta(days=draw(st.integers(-400, 30)))
    later = sorted(
        draw(st.lists(st.integers(3, 120), max_size=2, unique=True)),
    )
    dates = [first] + [
        d for d in (date(2026, 12, 8) + timedelta(days=n) for n in later) if d > first
    ]
    result = []
    for day in dates:
        members = draw(st.lists(st.sampled_from(people), min_size=1, max_size=4, unique=True))
        version = {
            "effective_from": day.isoformat(),
            "members": members,
            "shift_days": draw(st.integers(1, 21)),
            "handoff_time": _hhmm(draw(st.integers(0, 23)) * 60 + draw(st.sampled_from([0, 30]))),
            "timezone": draw(st.sampled_from(ZONES)),
        }
        if draw(st.booleans()):
            version["offset"] = draw(st.integers(0, len(members) - 1))
        result.append(version)
    return result


def _instant(draw: Any, after: datetime) -> datetime:
    return after + timedelta(minutes=15 * draw(st.integers(1, 4 * 24 * 60)))


def _z(moment: datetime) -> str:
    """An instant as the API writes it."""
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def configurations(draw: Any) -> dict[str, Any]:
    handles = draw(st.lists(st.sampled_from(HANDLES), min_size=1, max_size=5, unique=True))
    people = [
        {
            "handle": h,
            "name": draw(WORDS),
            "email": draw(st.sampled_from(["", f"{h}@example.org"])),
            "timezone": draw(st.sampled_from(ZONES)),
            "active": draw(st.booleans()),
        }
        for h in handles
    ]
    teams = [
        {
            "slug": slug,
            "name": draw(WORDS),
            "members": sorted(draw(st.lists(st.sampled_from(handles), unique=True))),
        }
        for slug in draw(st.lists(st.sampled_from(["ops", "infra", "web"]), unique=True))
    ]
    team_slugs = [t["slug"] for t in teams]
    rotations = [
        {
            "slug": slug,
            "name": draw(WORDS),
            "team": draw(st.sampled_from([None, *team_slugs])),
            "versions": draw(versions(handles)),
        }
        for slug in draw(st.lists(st.sampled_from(["core", "edge", "night"]), unique=True))
    ]
    rotation_slugs = [r["slug"] for r in rotations]
    overrides = []
    for slug in rotation_slugs:
        for _ in range(draw(st.integers(0, 2))):
            start = _instant(draw, NOW)
            overrides.append(
                {
                    "rotation": slug,
                    "person": draw(st.sampled_from(handles)),
                    "backup": draw(st.sampled_from([None, *handles])),
                    "start": _z(start),
                    "end": _z(_instant(draw, start)),
                    "reason": draw(st.sampled_from(["", "swap", "holiday"])),
                }
            )
    overrides = list({(o["rotation"], o["person"], o["start"]): o for o in overrides}.values())
    contacts = [
        {"slug": slug, "name": draw(WORDS), "email": f"{slug}@example.net"}
        for slug in draw(st.lists(st.sampled_from(["noc", "provider"]), unique=True))
    ]
    targets = [{"type": "email", "address": "ops@example.org"}]
    targets += [{"type": "oncall", "rotation": r, "role": "primary"} for r in rotation_slugs]
    targets += [{"type": "person", "person": h} for h in handles]
    targets += [{"type": "team", "team": t} for t in team_slugs]
    targets += [{"type": "contact", "contact": c["slug"]} for c in contacts]
    policy_slugs = draw(st.lists(st.sampled_from(["standard", "quiet", "loud"]), unique=True))
    default = draw(st.sampled_from([None, *policy_slugs]))
    policies = [
        {
            "slug": slug,
            "name": draw(WORDS),
            "steps": [
                {
                    "wait_seconds": draw(st.sampled_from([0, 300, 1800])),
                    "notify": draw(st.lists(st.sampled_from(targets), min_size=1, max_size=2)),
                }
                for _ in range(draw(st.integers(1, 2)))
            ],
            "repeat": draw(st.integers(0, 2)),
            "is_default": slug == default,
        }
        for slug in policy_slugs
    ]
    repo_names = draw(st.lists(st.sampled_from(["scs/standards", "scs/docs"]), unique=True))
    repos = [
        {
            "name": name,
            "team": draw(st.sampled_from([None, *team_slugs])),
            "rotation": draw(st.sampled_from([None, *rotation_slugs])),
            "policy": draw(st.sampled_from([None, *policy_slugs])),
            "workflow": draw(st.sampled_from(["", "https://docs.example.org/runbook"])),
        }
        for name in repo_names
    ]
    routes = {}
    for _ in range(draw(st.integers(0, 3))):
        route = {
            "order": draw(st.integers(1, 3)) * 10,
            "match": {"job": draw(GLOB)},
            "repo": draw(st.sampled_from([None, *repo_names])),
            "policy": draw(st.sampled_from([None, *policy_slugs])),
            "forward_to": sorted(
                draw(st.lists(st.sampled_from([c["slug"] for c in contacts]), unique=True))
            )
            if contacts
            else [],
            "action": draw(st.sampled_from(["page", "ignore"])),
        }
        routes[(route["order"], route["repo"], route["match"]["job"])] = route
    silences = {}
    for _ in range(draw(st.integers(0, 2))):
        starts = _instant(draw, NOW - timedelta(days=2))
        silence = {
            "match": {"repo": draw(GLOB)},
            "starts": _z(starts),
            "ends": _z(_instant(draw, max(starts, NOW))),
            "comment": draw(WORDS),
            "created_by": draw(st.sampled_from([None, *handles])),
        }
        silences[(silence["match"]["repo"], silence["starts"])] = silence
    watches = [
        {
            "slug": slug,
            "name": draw(WORDS),
            "match": {"pipeline": draw(GLOB)},
            "every_seconds": draw(st.sampled_from([3600, 86400])),
            "repo": draw(st.sampled_from([None, *repo_names])),
            "policy": draw(st.sampled_from([None, *policy_slugs])),
            "active": draw(st.booleans()),
        }
        for slug in draw(st.lists(st.sampled_from(["nightly", "backup"]), unique=True))
    ]
    return {
        "people": people,
        "teams": teams,
        "rotations": rotations,
        "overrides": overrides,
        "contacts": contacts,
        "policies": policies,
        "repos": repos,
        "routes": list(routes.values()),
        "silences": list(silences.values()),
        "watches": watches,
    }


def _contains(exported: Any, given: Any) -> bool:
    """Every field the document gave is exported with the same value."""
    if isinstance(given, dict):
        return isinstance(exported, dict) and all(
            key in exported and _contains(exported[key], value) for key, value in given.items()
        )
    if isinstance(given, list):
        return (
            isinstance(exported, list)
            and len(exported) == len(given)
            and all(_contains(e, g) for e, g in zip(exported, given, strict=True))
        )
    return bool(exported == given)


def _on_an_empty_database(data: Any) -> tuple[list[Any], str]:
    """Apply ``data`` to the (empty) database, export, and roll it all back."""
    with transaction.atomic():
        changes = apply.run(data)
        text = document.dump(document.export())
        transaction.set_rollback(True)
    return changes, text


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(configurations())
def test_export_apply_export_is_identical(data):
    with time_machine.travel(NOW, tick=False):
        created, first = _on_an_empty_database(data)
        assert all(change["op"] == "create" for change in created)
        exported = document.load(first)
        for kind in KINDS:
            by_key = {kind.key(item): item for item in exported[kind.plural]}
            assert len(by_key) == len(data[kind.plural]), kind.plural
            for item in data[kind.plural]:
                assert _contains(by_key.get(kind.key(item)), item), (kind.plural, item)
        with transaction.atomic():
            recreated = apply.run(exported)
            assert len(recreated) == len(created)
            assert document.dump(document.export()) == first
            assert apply.run(exported) == []
            assert apply.run(exported, prune=True) == []
            transaction.set_rollback(True)
