"""Configuration as code over HTTP: ``/api/v1/config/``, ``…/plan/``, ``…/apply/``."""

from __future__ import annotations

import json

import pytest
import yaml

from escalation.config import document
from rotations.models import Person, Team
from tests.escalation.config_world import configured, frozen  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("configured")


def test_export_answers_json_or_yaml_to_a_read_token(token_client):
    client = token_client("read")
    as_json = client.get("/api/v1/config/")
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/json")
    assert as_json.json() == document.export()
    as_yaml = client.get("/api/v1/config/", HTTP_ACCEPT="application/yaml")
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_yaml.content.decode() == document.dump(document.export())
    assert "ping" not in as_yaml.content.decode()


@pytest.mark.parametrize("scopes", [(), ("ingest",)])
def test_export_needs_read(token_client, scopes):
    assert token_client(*scopes).get("/api/v1/config/").status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/config/plan/", "/api/v1/config/apply/"])
@pytest.mark.parametrize("scope", ["read", "act", "ingest"])
def test_plan_and_apply_need_admin(token_client, path, scope):
    answer = token_client(scope).post(path, {"people": []}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "permission_denied"


def test_plan_of_a_json_body_changes_nothing(admin_api):
    data = document.export()
    data["people"].append({"handle": "dave", "name": "Dave"})
    answer = admin_api.post("/api/v1/config/plan/", data, format="json")
    assert answer.status_code == 200
    assert answer.json() == {
        "changes": [
            {
                "op": "create",
                "kind": "person",
                "key": "dave",
                "fields": {
                    "active": True,
                    "email": "",
                    "handle": "dave",
                    "matrix_id": "",
                    "name": "Dave",
                    "timezone": "UTC",
                },
            }
        ],
        "valid": True,
    }
    assert not Person.objects.filter(handle="dave").exists()


def test_apply_of_a_yaml_body_applies_and_twice_changes_nothing(admin_api):
    data = document.export()
    data["teams"][0]["name"] = "Operations"
    body = yaml.safe_dump(data)
    answer = admin_api.post("/api/v1/config/apply/", body, content_type="application/yaml")
    assert answer.status_code == 200
    assert answer.json()["changes"] == [
        {
            "op": "update",
            "kind": "team",
            "key": "ops",
            "fields": {"name": {"old": "Ops", "new": "Operations"}},
        }
    ]
    assert Team.objects.get().name == "Operations"
    again = admin_api.post("/api/v1/config/apply/", body, content_type="text/yaml")
    assert again.json() == {"changes": [], "valid": True}


def test_apply_prunes_only_when_asked(admin_api):
    body = {"watches": []}
    kept = admin_api.post("/api/v1/config/apply/", body, format="json")
    assert kept.json()["changes"] == []
    pruned = admin_api.post("/api/v1/config/apply/?prune=true", body, format="json")
    assert [(c["op"], c["key"]) for c in pruned.json()["changes"]] == [("delete", "nightly")]
    refused = admin_api.post("/api/v1/config/apply/?prune=maybe", body, format="json")
    assert refused.status_code == 400


def test_an_invalid_document_is_a_400_keyed_by_path_and_applies_nothing(admin_api):
    data = document.export()
    data["teams"][0]["name"] = "Operations"
    data["people"][1]["timezone"] = "Mars/Olympus"
    answer = admin_api.post("/api/v1/config/apply/", data, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"people[1].timezone": ["'Mars/Olympus' is not an IANA time zone."]}
    assert Team.objects.get().name == "Ops"


@pytest.mark.parametrize(
    "body",
    [
        "people: [unclosed",
        "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        + "".join(
            f"{chr(c)}: &{chr(c)} [{', '.join([f'*{chr(c - 1)}'] * 10)}]\n"
            for c in range(ord("c"), ord("j"))
        ),
        "people: !!python/object:os.system {}",
        "people: [{handle: x, name: .nan}]",
    ],
)
def test_malformed_yaml_is_a_400_not_a_500(admin_api, body):
    answer = admin_api.post("/api/v1/config/plan/", body, content_type="application/yaml")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] in {"malformed_yaml", "invalid"}


def test_a_document_that_is_not_a_mapping_is_a_400(admin_api):
    answer = admin_api.post(
        "/api/v1/config/plan/", json.dumps(["people"]), content_type="application/json"
    )
    assert answer.status_code == 400
    assert "(document)" in answer.json()["error"]["fields"]
