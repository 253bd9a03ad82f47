"""Plug-in points are filled in one place: ``escalation.plugins``."""

import re
from pathlib import Path

from escalation import changes, channels, plugins, targets
from rotations import notices, selectors

ROOT = Path(__file__).resolve().parents[2]
REGISTRIES = ("PERSON_CHANNELS", "HOOKS", "HANDOFF_HOOKS", "ONCALL_RESOLVERS")


def test_ready_fills_every_registry_without_matrix(settings):
    assert channels.get("email") is not None and channels.get("webhook") is not None
    assert channels.get("matrix") is None
    assert [targets.by_email] == targets.PERSON_CHANNELS
    assert changes.HOOKS == [] and notices.HANDOFF_HOOKS == []
    assert sorted(selectors.ONCALL_RESOLVERS) == ["repo", "rotation"]


def test_matrix_plugs_in_and_out_of_every_registry_it_uses():
    plugins.register_matrix()
    plugins.register_matrix()  # idempotent
    try:
        assert channels.get("matrix") is not None
        assert len(targets.PERSON_CHANNELS) == 2
        assert len(changes.HOOKS) == 1 and len(notices.HANDOFF_HOOKS) == 1
    finally:
        plugins.unregister_matrix()
    assert channels.get("matrix") is None
    assert [targets.by_email] == targets.PERSON_CHANNELS
    assert changes.HOOKS == [] and notices.HANDOFF_HOOKS == []


def test_no_module_but_plugins_fills_a_registry():
    fills = re.compile(
        r"\b(" + "|".join(REGISTRIES) + r")\s*(\.(append|insert|extend)\(|\[[^\]]+\]\s*=)"
        r"|\bchannels\.register\("
    )
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("escalation", "rotations", "oncall")
        for path in (ROOT / app).rglob("*.py")
        if path.name != "plugins.py" and fills.search(path.read_text())
    ]
    assert offenders == []
