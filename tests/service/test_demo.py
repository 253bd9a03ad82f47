import pytest
from django.utils import timezone

from escalation.models import Incident, Route
from oncall import demo
from rotations import selectors
from rotations.models import Rotation

pytestmark = pytest.mark.django_db


def test_demo_loads_once_into_an_empty_database_with_someone_on_call(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    username, password = demo.load_if_empty()
    assert username == "admin" and len(password) >= 12
    assert demo.load_if_empty() == (username, password)  # not loaded twice
    assert Rotation.objects.count() == 1
    loaded = selectors.load_one(Rotation.objects.get())
    assert loaded.oncall(timezone.now()).primary is not None
    incident = Incident.objects.get(result="FAILURE")
    assert incident.occurrences == 2 and incident.owned
    reason = f"route {Route.objects.get().pk}: job *-gx-scs-*"
    assert (incident.category, incident.category_reason) == ("compliance", reason)
    assert list(incident.forwarded_to.values_list("slug", flat=True)) == ["csp-gx"]
    # Zuul's trouble with a compliance job is the team's, never the provider's.
    node = Incident.objects.get(result="NODE_FAILURE")
    assert (node.category, node.owned) == ("infrastructure", True)
    assert list(node.forwarded_to.all()) == []
    assert node.not_forwarded_to == "gx-scs operations"
