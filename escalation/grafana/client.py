"""Read Grafana OnCall's public REST API v1 (``Authorization: <token>``, no "Bearer").

Lists come in an envelope (``count``, ``next``, ``results`` …) whose ``next`` is an
absolute URL built from the request Grafana saw: behind a proxy it may name another
scheme or host (``http://`` inside, ``https://`` outside). ``get_all`` therefore takes
only its query (``page=2&perpage=5``) onto the URL it was given, so the token never
goes anywhere but ``--url``. Every failure is a ``GrafanaError`` with a
sentence for the operator: bad URL, refused connection, 401/403, 404, not JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from escalation.channels import http

TIMEOUT = 20.0
MAX_PAGES = 1000  # a server that keeps answering with a ``next`` must not loop forever

# Everything the importer reads, in the order it reads it.
RESOURCES = (
    "users",
    "teams",
    "schedules",
    "on_call_shifts",
    "escalation_chains",
    "escalation_policies",
    "integrations",
    "routes",
    "personal_notification_rules",
    "webhooks",
)


class GrafanaError(Exception):
    """The API could not be read; the message says why, for a human."""


class Client:
    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT, perpage: int = 100):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise GrafanaError(
                f"{url!r} is not a Grafana OnCall URL: give http(s)://host[:port], the address "
                "its API answers on (…/api/v1/ is added)."
            )
        if not token:
            raise GrafanaError("No API token: create one in Grafana OnCall (Settings › API).")
        base = url.rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.base = base + "/"
        self.token = token
        self.timeout = timeout
        self.perpage = perpage

    def get(self, url: str) -> Any:
        try:
            response = http.request(
                "GET",
                url,
                headers={"Authorization": self.token, "Accept": "application/json"},
                timeout=self.timeout,
                retries=2,
            )
        except http.HttpError as error:
            raise GrafanaError(f"Cannot reach {url}: {error}.") from None
        except ValueError as error:
            raise GrafanaError(f"Bad URL {url!r}: {error}.") from None
        if response.status in (401, 403):
            raise GrafanaError(
                f"Grafana OnCall refused the token (HTTP {response.status} for {url}): check "
                "--token (an OnCall API token, sent as 'Authorization: <token>')."
            )
        if response.status == 404:
            raise GrafanaError(
                f"Not found (HTTP 404 for {url}): is --url the address of Grafana OnCall's "
                "API (the OnCall engine, or the API URL on its Settings › API page)?"
            )
        if not response.ok:
            raise GrafanaError(f"HTTP {response.status} for {url}: {response.text()[:200]}")
        try:
            return json.loads(response.body)
        except ValueError:
            raise GrafanaError(f"{url} did not answer JSON: is --url right?") from None

    def get_all(self, resource: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following the absolute ``next`` links."""
        first = urljoin(self.base, f"api/v1/{resource}/?perpage={self.perpage}")
        url: str | None = first
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            page = self.get(url)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise GrafanaError(f"{url} is not a Grafana OnCall list (no 'results').")
            items.extend(item for item in page["results"] if isinstance(item, dict))
            following = page.get("next")
            url = (
                urlunsplit(urlsplit(first)._replace(query=urlsplit(following).query))
                if isinstance(following, str) and following
                else None
            )
        raise GrafanaError(f"{resource}: more than {MAX_PAGES} pages, giving up.")

    def fetch(self) -> dict[str, list[dict[str, Any]]]:
        return {resource: self.get_all(resource) for resource in RESOURCES}
