"""Configuration resources: validation of policies, routes, silences; repo names with '/'."""

import pytest

from escalation.models import EscalationPolicy, Route

pytestmark = pytest.mark.django_db

STEPS = [
    {
        "wait_seconds": 0,
        "notify": [{"type": "oncall", "rotation": "core-ops", "role": "primary"}],
        "repeat": 2,
        "repeat_every_seconds": 300,
    },
    {
        "wait_seconds": 900,
        "notify": [
            {"type": "email", "address": "ops@example.org"},
            {"type": "webhook", "url": "https://bot.example/h"},
        ],
    },
]


def test_policy_with_valid_steps_is_created(admin_api, repo):
    response = admin_api.post(
        "/api/v1/policies/",
        {"slug": "p", "name": "P", "steps": STEPS, "repeat": 1, "claim_timeout_seconds": 3600},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert EscalationPolicy.objects.get(slug="p").steps == STEPS


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [{"wait_seconds": -1, "notify": [{"type": "email", "address": "a@b.org"}]}],
        [{"notify": [{"type": "pager", "number": "1"}]}],
        [{"notify": [{"type": "oncall", "rotation": "nope", "role": "primary"}]}],
        [{"notify": [{"type": "oncall", "rotation": "core-ops", "role": "boss"}]}],
        [{"notify": [{"type": "email", "address": "not-an-address"}]}],
        [{"notify": [{"type": "person", "person": "alice"}], "repeat": 2}],
        [{"notify": []}],
    ],
)
def test_bad_policy_steps_are_400_naming_steps(admin_api, repo, steps):
    response = admin_api.post(
        "/api/v1/policies/", {"slug": "p", "name": "P", "steps": steps}, format="json"
    )
    assert response.status_code == 400
    assert "steps" in response.json()["error"]["fields"]


def test_route_match_is_validated(admin_api):
    good = admin_api.post(
        "/api/v1/routes/",
        {
            "order": 1,
            "match": {"job": "*-check", "labels": {"cloud": "gx-*"}},
            "category": "compliance",
        },
        format="json",
    )
    assert good.status_code == 201, good.json()
    for match in ({"colour": "red"}, {"job": 3}, {"labels": ["x"]}, "job=*"):
        response = admin_api.post("/api/v1/routes/", {"order": 1, "match": match}, format="json")
        assert response.status_code == 400
        assert "match" in response.json()["error"]["fields"]
    assert Route.objects.count() == 1


def test_repo_is_addressed_by_its_name_with_a_slash(admin_api, repo):
    body = admin_api.get("/api/v1/repos/SovereignCloudStack%2Fstandards/").json()
    assert body["rotation"] == "core-ops" and body["policy"] == "standard"
    patched = admin_api.patch(
        "/api/v1/repos/SovereignCloudStack%2Fstandards/", {"workflow": "https://new"}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["workflow"] == "https://new"


def test_silence_end_must_follow_start(admin_api):
    response = admin_api.post(
        "/api/v1/silences/",
        {
            "match": {"subject": "gx-*"},
            "starts": "2026-11-26T10:00:00Z",
            "ends": "2026-11-26T09:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400 and "ends" in response.json()["error"]["fields"]


def test_silence_records_who_created_it(token_client, people):
    client = token_client("admin", person=people["alice"])
    body = client.post(
        "/api/v1/silences/",
        {
            "match": {"subject": "gx-*"},
            "comment": "maint",
            "starts": "2026-11-26T10:00:00Z",
            "ends": "2026-11-26T12:00:00Z",
        },
        format="json",
    ).json()
    assert body["created_by"] == "alice"
