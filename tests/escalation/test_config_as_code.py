"""Configuration as code: ``oncall_config export|apply`` (docs/configuration.md)."""

from __future__ import annotations

import copy
from datetime import date
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from escalation.config import apply, document, plan
from escalation.config.kinds import KINDS
from escalation.models import Contact, EscalationPolicy, Repo, Route, Silence, Watch
from rotations.models import Override, Person, Rotation, RotationVersion, Team
from tests.escalation.config_world import NOW, configured, frozen  # noqa: F401 (fixtures)


def export_text() -> str:
    out = StringIO()
    call_command("oncall_config", "export", stdout=out)
    return out.getvalue()


def run_apply(tmp_path, data, *args: str) -> str:
    path = tmp_path / "oncall.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    out = StringIO()
    try:
        call_command("oncall_config", "apply", str(path), *args, stdout=out, stderr=out)
    except CommandError:
        print(out.getvalue())
        raise
    return out.getvalue()


@pytest.mark.usefixtures("configured")
def test_export_is_stable_complete_and_without_secrets(tmp_path):
    first = export_text()
    call_command("oncall_config", "export", "--output", str(tmp_path / "out.yaml"))
    assert (tmp_path / "out.yaml").read_text(encoding="utf-8") == first
    assert export_text() == first
    data = yaml.safe_load(first)
    assert sorted(data) == sorted(k.plural for k in KINDS)
    assert [p["handle"] for p in data["people"]] == ["alice", "bob", "carol"]
    assert data["people"][0] == {
        "active": True,
        "email": "alice@example.org",
        "handle": "alice",
        "matrix_id": "",
        "name": "Alice",
        "timezone": "UTC",
    }
    rotation = data["rotations"][0]
    assert [v["effective_from"] for v in rotation["versions"]] == ["2026-01-05", "2026-12-21"]
    assert rotation["versions"][1]["members"] == ["alice", "bob", "carol"]
    assert [o["start"] for o in data["overrides"]] == ["2026-12-09T08:00:00Z"]
    assert [s["comment"] for s in data["silences"]] == ["maintenance"]
    assert data["routes"][0]["forward_to"] == ["provider"]
    assert data["watches"][0]["slug"] == "nightly"
    for secret in ("ical", "webcal", "ping", "/hb/", "feed", "token", "password"):
        assert secret not in first


@pytest.mark.usefixtures("configured")
def test_apply_of_the_export_says_no_changes_and_writes_nothing(tmp_path):
    text = export_text()
    versions = list(RotationVersion.objects.values_list("pk", flat=True))
    people = list(Person.objects.values_list("pk", "inactive_since"))
    assert run_apply(tmp_path, text) == "no changes\n"
    assert run_apply(tmp_path, text, "--prune") == "no changes\n"
    assert list(RotationVersion.objects.values_list("pk", flat=True)) == versions
    assert list(Person.objects.values_list("pk", "inactive_since")) == people
    assert export_text() == text


@pytest.mark.usefixtures("configured")
def test_export_applied_to_an_empty_database_exports_the_same(tmp_path):
    text = export_text()
    for model in (Watch, Silence, Route, Repo, EscalationPolicy, Contact, Override, Rotation):
        model.objects.all().delete()
    Team.objects.all().delete()
    Person.objects.all().delete()
    assert export_text() != text
    out = run_apply(tmp_path, text)
    assert "+ person alice" in out and "+ rotation core-ops" in out
    assert export_text() == text
    assert run_apply(tmp_path, text) == "no changes\n"


@pytest.mark.usefixtures("configured")
def test_dry_run_shows_the_plan_and_changes_nothing(tmp_path):
    data = yaml.safe_load(export_text())
    data["people"].append({"handle": "dave", "name": "Dave"})
    data["teams"][0]["name"] = "Operations"
    out = run_apply(tmp_path, data, "--dry-run")
    assert "+ person dave" in out
    assert '~ team ops\n    name: "Ops" → "Operations"' in out
    assert "Dry run" in out
    assert not Person.objects.filter(handle="dave").exists()
    assert Team.objects.get().name == "Ops"
    out = run_apply(tmp_path, data)
    assert Person.objects.filter(handle="dave").exists()
    assert Team.objects.get().name == "Operations"
    assert run_apply(tmp_path, data) == "no changes\n"


@pytest.mark.usefixtures("configured")
def test_an_edited_rotation_gets_a_new_version_from_its_date(tmp_path):
    data = yaml.safe_load(export_text())
    old = RotationVersion.objects.filter(effective_from=date(2026, 1, 5)).get()
    data["rotations"][0]["versions"].append(
        {
            "effective_from": "2027-01-04",
            "members": ["carol", "bob"],
            "shift_days": 14,
            "handoff_time": "10:00",
            "timezone": "Europe/Berlin",
        }
    )
    changes = apply.run(copy.deepcopy(data), commit=False)
    assert changes == [
        {
            "op": "update",
            "kind": "rotation",
            "key": "core-ops",
            "fields": {
                "versions from 2027-01-04": {
                    "old": None,
                    "new": {
                        "effective_from": "2027-01-04",
                        "members": ["carol", "bob"],
                        "shift_days": 14,
                        "handoff_time": "10:00",
                        "timezone": "Europe/Berlin",
                        "offset": 0,
                    },
                }
            },
        }
    ]
    out = run_apply(tmp_path, data)
    assert "~ rotation core-ops\n    versions from 2027-01-04: (none) → " in out
    rotation = Rotation.objects.get()
    dates = list(rotation.versions.values_list("effective_from", flat=True))
    assert dates == [date(2026, 1, 5), date(2026, 12, 21), date(2027, 1, 4)]
    assert RotationVersion.objects.get(pk=old.pk).shift_days == 7  # the past is untouched
    assert run_apply(tmp_path, data) == "no changes\n"


@pytest.mark.usefixtures("configured")
def test_changing_a_version_that_took_effect_is_refused(tmp_path):
    data = yaml.safe_load(export_text())
    data["rotations"][0]["versions"][0]["shift_days"] = 3
    with pytest.raises(plan.Invalid) as raised:
        apply.run(data)
    assert list(raised.value.errors) == ["rotations[0].versions"]
    assert RotationVersion.objects.get(effective_from=date(2026, 1, 5)).shift_days == 7


@pytest.mark.usefixtures("configured")
def test_a_bad_document_changes_nothing_and_names_every_path(tmp_path):
    before = export_text()
    data = yaml.safe_load(before)
    data["people"].append({"handle": "dave", "name": "Dave", "timezone": "Mars/Olympus"})
    data["teams"][0]["members"].append("nobody")
    data["teams"].append(dict(data["teams"][0]))
    data["rotations"][0]["versions"][1]["timezone"] = "Nowhere/Land"
    data["policies"][0]["steps"][0]["notify"][0]["rotation"] = "missing"
    data["contacts"][0]["name"] = "Renamed"  # valid, but must not be applied
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was applied"):
        call_command("oncall_config", "apply", str(path), stdout=StringIO(), stderr=err)
    text = err.getvalue()
    assert "people[3].timezone: 'Mars/Olympus' is not an IANA time zone." in text
    assert "teams[0].members: Unknown person 'nobody'." in text
    assert "teams[1]: Duplicate team 'ops': also at teams[0]." in text
    assert "rotations[0].versions[1].timezone:" in text
    assert "policies[0].steps: step 1, target 1: Unknown rotation 'missing'." in text
    assert export_text() == before


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("people: {}", "people"),
        ("- a list", "(document)"),
        ("peeple: []", "peeple"),
        ("people: [{handle: x, name: X, shoe_size: 9}]", "people[0].shoe_size"),
        ("people: [{name: X}]", "people[0].handle"),
        (
            "overrides: [{rotation: core-ops, person: alice, start: 2026-11-01T00:00:00Z, "
            "end: 2026-11-02T00:00:00Z}]",
            "overrides[0].end",
        ),
    ],
)
@pytest.mark.usefixtures("configured")
def test_malformed_documents_name_the_path(text, path):
    with pytest.raises(plan.Invalid) as raised:
        apply.run(document.load(text))
    assert path in raised.value.errors


def test_unreadable_yaml_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="not valid YAML"):
        run_apply(tmp_path, "people: [unclosed")


@pytest.mark.usefixtures("configured")
def test_prune_deletes_only_what_is_absent(tmp_path):
    data = yaml.safe_load(export_text())
    data["watches"] = []
    data["silences"] = []
    data["overrides"] = []
    del data["contacts"]  # a kind left out of the document is left alone
    out = run_apply(tmp_path, data)
    assert out == "no changes\n"  # without --prune nothing is deleted
    out = run_apply(tmp_path, data, "--prune")
    assert "- watch nightly" in out
    assert "- override core-ops/carol@2026-12-09T08:00:00Z" in out
    assert not Watch.objects.exists()
    assert Silence.objects.count() == 1  # the ended one is history: kept
    assert Override.objects.filter(deleted_at__isnull=True).count() == 1  # the ended one
    assert Contact.objects.count() == 1
    assert Person.objects.count() == 3


@pytest.mark.usefixtures("configured")
def test_prune_blocked_by_a_protected_reference_applies_nothing(tmp_path):
    data = yaml.safe_load(export_text())
    data["people"] = [p for p in data["people"] if p["handle"] != "bob"]
    data["teams"][0]["members"].remove("bob")
    data["overrides"] = []
    with pytest.raises(plan.Invalid) as raised:
        apply.run(data, prune=True)
    (message,) = raised.value.errors["people"]
    assert message.startswith("Cannot delete person 'bob' (absent from the document)")
    assert "rotation member" in message
    assert Person.objects.filter(handle="bob").exists()
    assert Override.objects.filter(deleted_at__isnull=True, end__gt=NOW).count() == 1
    assert Team.objects.get().members.count() == 3


@pytest.mark.usefixtures("configured")
def test_the_default_policy_can_move(tmp_path):
    data = yaml.safe_load(export_text())
    data["policies"][0]["is_default"] = False
    data["policies"].insert(
        0,
        {
            "slug": "another",
            "name": "Another",
            "is_default": True,
            "steps": [{"notify": [{"type": "person", "person": "alice"}]}],
        },
    )
    run_apply(tmp_path, data)
    assert EscalationPolicy.objects.get(is_default=True).slug == "another"
