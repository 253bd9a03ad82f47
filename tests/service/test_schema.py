"""The OpenAPI schema describes the API truthfully (issue 12, section 2): typed bodies
where the views render plain dicts, and the contract's error answers on every
operation. tests/service/test_schema_fuzz.py checks the live answers against it."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

TYPED = [
    ("/api/v1/events/", "post", "202"),
    ("/api/v1/ingest/zuul/", "post", "202"),
    ("/api/v1/oncall/", "get", "200"),
    ("/api/v1/coverage/", "get", "200"),
    ("/api/v1/reports/", "get", "200"),
    ("/api/v1/people/{handle}/ical/reset/", "post", "200"),
    ("/api/v1/rotations/{slug}/ical/reset/", "post", "200"),
    ("/api/v1/teams/{slug}/ical/reset/", "post", "200"),
]


@pytest.fixture
def schema(client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _free_form(schema: dict[str, Any], node: dict[str, Any], seen: set[str]) -> list[str]:
    """The free-form objects anywhere inside ``node``."""
    ref = node.get("$ref")
    if ref in seen:
        return []
    if ref:
        seen.add(ref)
    node = _resolve(schema, node)
    found = []
    # A map with typed values ({"type": "object", "additionalProperties": {"type": ...}})
    # is described; an object with neither properties nor typed values is not.
    values = node.get("additionalProperties")
    typed_map = isinstance(values, dict) and bool(values)
    if node.get("type") == "object" and not node.get("properties") and not typed_map:
        found.append(str(node)[:80])
    for child in [*node.get("properties", {}).values(), *node.get("oneOf", [])]:
        found += _free_form(schema, child, seen)
    if "items" in node:
        found += _free_form(schema, node["items"], seen)
    return found


@pytest.mark.parametrize(("path", "method", "status"), TYPED)
def test_answers_rendered_from_dicts_are_typed_not_free_form(schema, path, method, status):
    answer = schema["paths"][path][method]["responses"][status]["content"]["application/json"]

    assert _free_form(schema, answer["schema"], set()) == []


def test_the_generic_event_request_is_an_event_or_a_list_of_them(schema):
    body = schema["paths"]["/api/v1/events/"]["post"]["requestBody"]["content"]
    choice = _resolve(schema, body["application/json"]["schema"])

    kinds = [_resolve(schema, option) for option in choice["oneOf"]]
    assert {"source", "status", "repo"} <= set(kinds[0]["required"])
    assert kinds[1]["type"] == "array"
    assert _free_form(schema, body["application/json"]["schema"], set()) == []


def test_every_operation_documents_the_contract_error_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert "Retry-After" in schema["components"]["responses"]["Error429"]["headers"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404", "414", "429"} <= codes, (method, path)
            if method in {"post", "put", "patch"}:
                assert {"409", "413"} <= codes, (method, path)


def test_shifts_are_documented_as_the_plain_list_they_are(schema):
    answer = schema["paths"]["/api/v1/rotations/{slug}/shifts/"]["get"]["responses"]["200"]

    assert answer["content"]["application/json"]["schema"]["type"] == "array"


def test_handoff_time_is_documented_as_hh_mm_not_rfc3339_time(schema):
    field = schema["components"]["schemas"]["Rotation"]["properties"]["handoff_time"]

    assert "format" not in field
    assert field["pattern"].startswith("^")
