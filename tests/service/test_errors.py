import pytest

pytestmark = pytest.mark.django_db


def test_malformed_json_is_400_malformed_json(admin_api):
    response = admin_api.post("/api/v1/people/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_validation_error_lists_fields(admin_api):
    response = admin_api.post("/api/v1/people/", {"handle": "no spaces!"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"handle", "name"}
    assert all(isinstance(problem, str) for problem in error["fields"]["handle"])


def test_body_over_one_mebibyte_is_413(admin_api):
    body = '{"name": "' + "x" * (1024 * 1024) + '"}'
    response = admin_api.post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_body_just_under_the_limit_is_parsed(admin_api):
    body = '{"handle": "big", "name": "' + "x" * 150 + '", "pad": "' + "y" * 1_000_000 + '"}'
    response = admin_api.post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 201


def test_unknown_api_path_is_json_404(admin_api):
    response = admin_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_object_is_404_in_error_shape(admin_api):
    response = admin_api.get("/api/v1/people/nobody/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_wrong_method_is_405_in_error_shape(admin_api):
    response = admin_api.put("/api/v1/people/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_list_is_paginated_in_contract_shape(admin_api):
    for i in range(3):
        admin_api.post("/api/v1/people/", {"handle": f"p{i}", "name": f"P {i}"}, format="json")
    body = admin_api.get("/api/v1/people/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")


# Hostile input: a 4xx in the contract's shape, never a 500 (issue 12, section 2) ---------


def _api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def rotation(db):
    from datetime import date, time

    from rotations import services
    from rotations.models import Person, Team

    alice = Person.objects.create(handle="alice", name="Alice")
    team = Team.objects.create(slug="ops", name="Ops")
    return services.create_rotation(
        slug="core",
        name="Core",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec([alice], 14, time(9), "Europe/Berlin"),
    )


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/policies/", '{"slug": "p", "name": "P", "steps": DEEP}'),
        ("/api/v1/routes/", '{"order": 1, "match": DEEP}'),
        ("/api/v1/people/", '{"handle": "h", "name": DEEP}'),
    ],
)
def test_deeply_nested_json_is_400_on_configuration_endpoints(admin_api, url, body):
    body = body.replace("DEEP", "[" * 1000 + "]" * 1000)

    error = _api_error(admin_api.post(url, body, content_type="application/json"), 400, "invalid")

    assert "nested deeper" in error["fields"]["non_field_errors"][0]


def test_a_non_finite_number_in_a_configuration_body_is_400(admin_api):
    body = '{"slug": "p", "name": "P", "steps": [], "claim_timeout_seconds": 1e400}'

    _api_error(
        admin_api.post("/api/v1/policies/", body, content_type="application/json"), 400, "invalid"
    )


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/overrides/?active_at=9999-12-31T23:59:59Z",
        "/api/v1/overrides/?ends_after=yesterday",
        "/api/v1/rotations/core/shifts/?from=9999-12-01T00:00:00Z",
        "/api/v1/rotations/core/shifts/?from=2026-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
        "/api/v1/oncall/?rotation=core&at=0001-01-01T00:00:00%2B14:00",
        "/api/v1/oncall/?rotation=core&at=9999-12-31T23:59:59-14:00",
    ],
)
def test_times_out_of_range_in_queries_are_400_naming_the_parameter(admin_api, rotation, query):
    name = query.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]

    error = _api_error(admin_api.get(query), 400, "invalid")

    assert list(error["fields"]) == [name]


def test_an_offset_beyond_sixteen_hours_is_read_as_the_instant_it_names(admin_api, rotation):
    response = admin_api.get("/api/v1/oncall/?rotation=core&at=2026-03-01T20:00:00%2B20:00")

    assert response.status_code == 200, response.content
    assert response.json()["at"] == "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/overrides/?ends_after=2026-01-01T00:00:00%2B20:00",
        "/api/v1/overrides/?active_at=2026-01-01T00:00:00-23:59",
    ],
)
def test_an_offset_beyond_sixteen_hours_filters_overrides(admin_api, rotation, query):
    response = admin_api.get(query)

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0


def test_deleting_a_rotation_member_is_409_conflict_naming_the_rotation(admin_api, rotation):
    from rotations.models import Person

    error = _api_error(admin_api.delete("/api/v1/people/alice/"), 409, "conflict")

    assert "'core'" in error["message"]
    assert Person.objects.filter(handle="alice").exists()


def test_deleting_a_person_nothing_references_is_204(admin_api):
    admin_api.post("/api/v1/people/", {"handle": "free", "name": "Free"}, format="json")

    assert admin_api.delete("/api/v1/people/free/").status_code == 204


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (
            "/api/v1/overrides/",
            {
                "rotation": "core",
                "person": "al\x00ice",
                "start": "2026-02-01T00:00:00Z",
                "end": "2026-02-02T00:00:00Z",
            },
        ),
        ("/api/v1/teams/", {"slug": "t2", "name": "T", "members": ["alice\x00"]}),
        ("/api/v1/routes/", {"order": 1, "match": {"repo": "a\x00"}}),
        (
            "/api/v1/silences/",
            {
                "match": {"labels": {"x\x00": "y"}},
                "starts": "2026-02-01T00:00:00Z",
                "ends": "2026-02-02T00:00:00Z",
            },
        ),
        (
            "/api/v1/policies/",
            {
                "slug": "p",
                "name": "P",
                "steps": [
                    {"wait_seconds": 0, "notify": [{"type": "webhook", "url": "https://a\x00b/"}]}
                ],
            },
        ),
    ],
)
def test_nul_in_a_lookup_or_stored_field_is_400(admin_api, rotation, url, body):
    error = _api_error(admin_api.post(url, body, format="json"), 400, "invalid")

    assert "NUL" in error["fields"]["non_field_errors"][0]


@pytest.mark.parametrize(
    "url",
    ["/api/v1/people/al%00ice/", "/api/v1/incidents/?repo=a%00b", "/api/v1/overrides/?person=%00"],
)
def test_nul_in_a_url_is_400(admin_api, rotation, url):
    _api_error(admin_api.get(url), 400, "invalid")


STEPS = [{"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]}]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/people/", {"handle": "eve", "name": "Eve\nX-Evil: 1\rY"}, "name"),
        ("/api/v1/teams/", {"slug": "t", "name": "Team\r\nTwo"}, "name"),
        ("/api/v1/contacts/", {"slug": "c", "name": "C\u2028D\x1b[31m"}, "name"),
        ("/api/v1/policies/", {"slug": "p", "name": "P\nQ", "steps": STEPS}, "name"),
    ],
)
def test_control_characters_in_names_are_replaced_by_spaces(admin_api, url, body, field):
    response = admin_api.post(url, body, format="json")

    assert response.status_code == 201, response.content
    value = response.json()[field]
    assert not any(ord(c) < 0x20 or c == "\u2028" for c in value), value
    assert " " in value


def test_a_name_of_control_characters_only_is_400_blank(admin_api):
    response = admin_api.post("/api/v1/people/", {"handle": "x", "name": "\n\r\t"}, format="json")

    assert "name" in _api_error(response, 400, "invalid")["fields"]


def test_rotation_name_with_line_breaks_is_stored_on_one_line(admin_api, rotation):
    response = admin_api.patch("/api/v1/rotations/core/", {"name": "Core\r\nOps"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Core Ops"
