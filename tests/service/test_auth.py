from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from oncall.models import ApiToken, hash_secret
from rotations.models import Person

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_in_error_shape():
    response = APIClient().get("/api/v1/people/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer oc_not-a-real-token")
    response = client.get("/api/v1/people/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_revoked_token_is_401(token_client):
    client = token_client("read")
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get("/api/v1/people/").status_code == 401


def test_token_keyword_is_accepted_as_well_as_bearer():
    token = ApiToken(name="t", scopes=["read"])
    secret = token.set_new_secret()
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/v1/people/").status_code == 200


def test_missing_scope_is_403_in_error_shape(token_client):
    response = token_client("ingest").get("/api/v1/people/")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert "read" in error["message"]


def test_read_scope_cannot_write_configuration(token_client):
    response = token_client("read", "act").post(
        "/api/v1/people/", {"handle": "eve", "name": "Eve"}, format="json"
    )
    assert response.status_code == 403
    assert not Person.objects.filter(handle="eve").exists()


def test_admin_scope_includes_the_others(token_client):
    client = token_client("admin")
    assert client.get("/api/v1/people/").status_code == 200
    response = client.post("/api/v1/people/", {"handle": "eve", "name": "Eve"}, format="json")
    assert response.status_code == 201


def test_create_api_token_prints_secret_last_and_stores_only_its_hash():
    Person.objects.create(handle="alice", name="Alice")
    out = StringIO()
    call_command(
        "create_api_token",
        "bot",
        "--scope",
        "act",
        "--scope",
        "read",
        "--person",
        "alice",
        stdout=out,
        stderr=StringIO(),
    )
    secret = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get()
    assert token.scopes == ["act", "read"]
    assert token.person.handle == "alice"
    assert token.digest == hash_secret(secret)
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert not any(secret in value for value in stored)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/people/").status_code == 200


def test_create_api_token_rejects_unknown_person_and_scope():
    with pytest.raises(CommandError):
        call_command(
            "create_api_token",
            "bot",
            "--scope",
            "read",
            "--person",
            "nobody",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    with pytest.raises(CommandError):
        call_command(
            "create_api_token", "bot", "--scope", "root", stdout=StringIO(), stderr=StringIO()
        )
    assert not ApiToken.objects.exists()


def test_token_use_is_recorded(token_client):
    client = token_client("read")
    client.get("/api/v1/people/")
    assert ApiToken.objects.get().last_used_at is not None


def test_session_login_reads_and_staff_configures(client, django_user_model):
    user = django_user_model.objects.create_user("u", password="pw-123456")
    client.force_login(user)
    assert client.get("/api/v1/people/").status_code == 200
    data = {"handle": "eve", "name": "Eve"}
    assert client.post("/api/v1/people/", data, content_type="application/json").status_code == 403


def test_revoking_a_token_in_use_takes_effect_at_once(client, django_user_model):
    token = ApiToken(name="bot", scopes=["read"])
    secret = token.set_new_secret()
    token.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/people/").status_code == 200  # now remembered by this process
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.org", "pw"))
    client.post("/admin/oncall/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get().revoked_at is not None
    assert api.get("/api/v1/people/").status_code == 401
