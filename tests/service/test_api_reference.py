"""The reference in the repository keeps up with the code: every path the URLconf serves
under /api/v1/ is in docs/api.md, and every environment variable read through
``oncall.env.Env`` is in the README's configuration table."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

from oncall.env import Env

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"

NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _patterns(patterns: Iterable[URLPattern | URLResolver], prefix: str) -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def path_template(pattern: str) -> str:
    """``api/v1/^incidents/(?P<pk>[^/.]+)/claim/$`` → ``/api/v1/incidents/{id}/claim/``,
    spelled as the OpenAPI schema spells it (``pk`` is ``id``)."""
    template = pattern.replace("^", "").replace("$", "")
    template = NAMED_GROUP.sub(lambda m: f"{{{m.group(1)}}}", template)
    template = CONVERTER.sub(lambda m: f"{{{m.group(1)}}}", template)
    return "/" + template.replace("{pk}", "{id}")


def served_api_paths() -> set[str]:
    """Every path template under /api/v1/, without DRF's format-suffix twins
    (``/api/v1/people.json``), which serve the same resources."""
    return {
        path_template(pattern)
        for pattern in _patterns(get_resolver().url_patterns, "")
        if pattern.startswith("api/v1/") and "(?P<format>" not in pattern
    }


def documented(path: str, text: str) -> bool:
    """``path`` appears whole in ``text``: ``/api/v1/people/`` is not found inside
    ``/api/v1/people/{handle}/``."""
    return re.search(re.escape(path) + r"(?=[\s`?)|,]|$)", text) is not None


def test_every_path_served_under_api_v1_is_in_docs_api_md() -> None:
    paths = served_api_paths()
    # The walk sees the URLconf: the ingest endpoints and the routers' nested actions.
    assert {"/api/v1/events/", "/api/v1/incidents/{id}/claim/"} <= paths
    assert "/api/v1/repos/{name}/" in paths

    text = API_DOC.read_text()
    missing = sorted(path for path in paths if not documented(path, text))
    assert missing == [], f"docs/api.md does not mention {missing}"


def test_a_path_is_documented_only_when_it_appears_whole() -> None:
    text = "| `/api/v1/people/{handle}/ical/reset/` | POST |\nGET /api/v1/oncall/?repo=NAME"
    assert documented("/api/v1/people/{handle}/ical/reset/", text)
    assert documented("/api/v1/oncall/", text)
    assert not documented("/api/v1/people/", text)
    assert not documented("/api/v1/people/{handle}/", text)


def env_variables() -> set[str]:
    """The names passed to an ``Env`` reader anywhere in the product's code (settings,
    gunicorn's and logging's configuration, and ``Env`` itself)."""
    readers = [
        name
        for name, member in inspect.getmembers(Env, inspect.isfunction)
        if not name.startswith("_") and name != "fail"
    ]
    alternatives = "|".join(readers)
    call = re.compile(rf"\b(?:env|self)\.(?:{alternatives})\(\s*\"([A-Z][A-Z0-9_]*)\"")
    names: set[str] = set()
    for package in ("oncall", "rotations", "escalation"):
        for source in (ROOT / package).rglob("*.py"):
            names.update(call.findall(source.read_text()))
    return names


def readme_configuration_names() -> set[str]:
    """The backticked names in the first column of the README's "Configuration" table."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_every_environment_variable_is_in_the_readme_configuration_table() -> None:
    names = env_variables()
    # The scan sees multi-line calls and the readers inside Env.
    assert {"DATABASE_URL", "SECURE_HSTS_SECONDS", "DATABASE_CONN_MAX_AGE", "LOG_FORMAT"} <= names
    assert "WEB_CONCURRENCY" in names

    missing = sorted(names - readme_configuration_names())
    assert missing == [], f"README.md's configuration table lacks {missing}"
