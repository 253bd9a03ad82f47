"""The incident page says what kind of failure it is, why, and what was not forwarded."""

from __future__ import annotations

import pytest

from escalation.models import Contact, Route
from tests.web.conftest import failure

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_route(world):
    route = Route.objects.create(order=1, match={"job": "*-gx-scs-*"}, category="compliance")
    route.forward_to.add(Contact.objects.create(slug="gx", name="GX ops", email="noc@gx.example"))
    return route


def test_infrastructure_failure_page_shows_reason_and_that_it_was_not_forwarded(
    alice_client, compliance_route
):
    incident = failure(result="NODE_FAILURE", category="infrastructure")

    body = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'infrastructure <span class="muted">(sent as infrastructure)</span>' in body
    assert "Zuul infrastructure failure (NODE_FAILURE) — not forwarded to GX ops" in body
    assert "Forwarded to" not in body


def test_compliance_failure_page_names_the_route_that_classified_it(alice_client, compliance_route):
    incident = failure()

    body = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    reason = f"route {compliance_route.pk}: job *-gx-scs-*"
    assert f'compliance <span class="muted">({reason})</span>' in body
    assert "not forwarded" not in body
