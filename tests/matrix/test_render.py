"""What the bot writes, without a homeserver: keys, durations, the topic's kept text."""

import pytest

from escalation.channels.matrix.topic import compose
from escalation.chatops.commands import duration
from escalation.chatops.listener import normalize


def test_emoji_compare_with_and_without_variation_selector():
    assert normalize("✅\ufe0f") == normalize("✅")
    assert normalize("↩️") == normalize("↩")
    assert normalize("👀") != normalize("✅")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("2h", 7200), ("1d", 86400), ("1W", 604800)]
)
def test_mute_durations(text, seconds):
    assert duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["0h", "2", "h", "91d", "13w", "-1h", "2 hours"])
def test_bad_mute_durations_are_refused(text):
    assert duration(text) is None


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("", "On call: Bob"),
        ("Infra chat", "Infra chat | On call: Bob"),
        ("Infra chat | On call: Alice until Mon", "Infra chat | On call: Bob"),
        ("On call: Alice", "On call: Bob"),
        ("Infra | builds | On call: Alice", "Infra | builds | On call: Bob"),
    ],
)
def test_topic_keeps_the_teams_text_before_the_separator(current, wanted):
    assert compose(current, "On call: Bob") == wanted
