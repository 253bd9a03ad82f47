"""The schedule generation and the per-process cache of loaded rotations it keys: every
change of what a schedule is computed from gives a new stamp, in any process at once,
and the on-call lookup of a repo answers from memory in one query."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.admin.sites import site
from django.db import connection, transaction
from django.test import RequestFactory

from escalation.models import Repo
from escalation.selectors import oncall_by_rotation
from escalation.views import repo_oncall
from rotations import generation, services
from rotations.models import Override, Person, Rotation
from tests.processes import child_env

AT = datetime(2026, 3, 4, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def frozen():
    """Two hours before ``AT``: a person deactivated now is off duty at ``AT``."""
    with time_machine.travel(AT - timedelta(hours=2), tick=False):
        yield


def make_rotation(slug: str = "ops") -> Rotation:
    people = [
        Person.objects.get_or_create(handle=h, defaults={"name": h.title()})[0]
        for h in ("alice", "bob", "carol")
    ]
    return services.create_rotation(
        slug=slug,
        name=slug.title(),
        team=None,
        start=date(2026, 3, 2),
        spec=services.ScheduleSpec(people, 7, time(9), "Europe/Berlin"),
    )


def primary(rotation: Rotation, at: datetime = AT) -> str | None:
    answer = oncall_by_rotation([rotation.pk], at)[rotation.pk]
    return answer.primary.handle if answer.primary else None


def person(handle: str) -> Person:
    return Person.objects.get(handle=handle)


def override(rotation: Rotation, handle: str = "carol") -> Override:
    return services.create_override(
        rotation=rotation,
        person=person(handle),
        start=AT - timedelta(hours=1),
        end=AT + timedelta(hours=1),
    )


CHANGES = {
    "override created": lambda r: override(r),
    "override deleted": lambda r: services.delete_override(override(r)),
    "overrides deleted in the admin": lambda r: (
        override(r),
        site._registry[Override].delete_queryset(
            RequestFactory().post("/"), Override.objects.filter(rotation=r)
        ),
    ),
    "new version": lambda r: services.edit_schedule(
        r, services.ScheduleSpec([person("carol")], 7, time(9), "UTC"), None
    ),
    "person deactivated": lambda r: (
        setattr(p := person("alice"), "active", False),
        p.save(),
    ),
    "person renamed": lambda r: Person.objects.get(handle="alice").save(),
    "rotation renamed": lambda r: (setattr(r, "name", "Other"), r.save()),
    "rotation deleted": lambda r: r.delete(),
    "member removed": lambda r: r.versions.first().members.first().delete(),
}


@pytest.mark.django_db
@pytest.mark.parametrize("change", CHANGES)
def test_every_change_of_a_schedule_gives_a_new_stamp(change):
    rotation = make_rotation()
    before = generation.current()
    assert before is not None
    CHANGES[change](rotation)
    assert generation.current() != before


@pytest.mark.django_db
def test_the_lookup_sees_an_override_and_a_deactivation_at_once():
    rotation = make_rotation()
    assert primary(rotation) == "alice"
    override(rotation, "bob")
    assert primary(rotation) == "bob"
    services.delete_override(Override.objects.get())
    assert primary(rotation) == "alice"
    alice = person("alice")
    alice.active = False
    alice.save()
    assert primary(rotation) == "bob"


@pytest.mark.django_db
def test_a_cached_repo_lookup_is_one_query(django_assert_num_queries):
    rotation, backup = make_rotation("ops"), make_rotation("backup")
    Repo.objects.create(name="org/repo", rotation=rotation, backup_rotation=backup)
    first = repo_oncall("org/repo", AT)
    with django_assert_num_queries(1):  # the repo with the stamp
        again = repo_oncall("org/repo", AT)
    assert again == first and again["primary"]["handle"] == "alice"
    # The first miss loaded every rotation: another repo's lookup is answered from memory.
    Repo.objects.create(name="org/other", rotation=backup)
    with django_assert_num_queries(1):
        assert repo_oncall("org/other", AT)["rotation"] == "backup"
    # An earlier instant than the cache covers loads again, and is right.
    assert repo_oncall("org/repo", AT - timedelta(days=3))["primary"] is None  # before it began


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_stale_answer():
    rotation = make_rotation()
    assert primary(rotation) == "alice"
    with pytest.raises(RuntimeError), transaction.atomic():
        override(rotation, "bob")
        assert primary(rotation) == "bob"  # cached under the stamp of the rolled-back change
        raise RuntimeError
    assert primary(rotation) == "alice"
    override(rotation, "carol")  # another change: a new stamp, never the rolled-back one
    assert primary(rotation) == "carol"


@pytest.mark.django_db(transaction=True)
def test_a_change_made_in_another_process_is_seen_at_once():
    if connection.vendor != "postgresql":
        pytest.skip("another process needs a shared database (DATABASE_URL)")
    rotation = make_rotation()
    assert primary(rotation) == "alice"  # cached in this process
    script = (
        "import django; django.setup()\n"
        "from datetime import timedelta\n"
        "from rotations import services\n"
        "from rotations.models import Person, Rotation\n"
        f"at = __import__('datetime').datetime.fromisoformat('{AT.isoformat()}')\n"
        "services.create_override(rotation=Rotation.objects.get(slug='ops'),"
        " person=Person.objects.get(handle='bob'), start=at - timedelta(hours=1),"
        " end=at + timedelta(hours=1))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script], env=child_env(), cwd=ROOT, check=True, timeout=120
    )
    assert primary(rotation) == "bob"
