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
