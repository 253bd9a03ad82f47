"""Names with control characters (stored before input was cleaned, or through the admin)
never break a feed nor inject a content line (issue 12, section 2)."""

from __future__ import annotations

from datetime import date, time

import pytest
from icalendar import Calendar

from rotations import feeds, services
from rotations.models import Person, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def rotation():
    person = Person.objects.create(handle="eve", name="Eve\nEvil")
    team = Team.objects.create(slug="ops", name="Ops\r\nX-Team: 1")
    return services.create_rotation(
        slug="core",
        name="Core\rX-WR-TIMEZONE:Evil/Zone",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec([person], 14, time(9), "UTC"),
    )


@pytest.mark.parametrize("owner", ["person", "rotation", "team"])
def test_a_feed_of_names_with_line_breaks_is_served_on_single_lines(client, rotation, owner):
    obj = {
        "person": Person.objects.get(handle="eve"),
        "rotation": rotation,
        "team": rotation.team,
    }[owner]

    response = client.get(f"/ical/{feeds.issue_token(obj)}.ics")

    assert response.status_code == 200
    body = response.content.decode()
    lines = body.split("\r\n")
    assert "\r" not in "".join(lines) and "\n" not in "".join(lines)
    assert not any(line.startswith(("X-WR-TIMEZONE", "X-Team", "Evil")) for line in lines)
    calendar = Calendar.from_ical(response.content)
    name = str(calendar["X-WR-CALNAME"])
    assert "\r" not in name and "\n" not in name
    events = calendar.walk("VEVENT")
    assert events and all("\n" not in str(e["SUMMARY"]) for e in events)
