import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["broker"] == "ok"


def test_healthz_is_503_when_the_broker_is_down(client, unused_tcp_port):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{unused_tcp_port}/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"


def test_healthz_with_the_embedded_broker(client, tmp_path):
    with override_settings(REDIS_URL=None, CELERY_BROKER_DIR=tmp_path):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_schema_lists_the_v1_paths(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/people/" in paths
    assert all(path.startswith("/api/v1/") for path in paths)
    schemes = response.json()["components"]["securitySchemes"]
    assert any(scheme.get("scheme") == "bearer" for scheme in schemes.values())


def test_api_docs_and_admin_login_answer(client):
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


def test_admin_is_not_reachable_for_non_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("u", password="pw-123456"))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
