"""A real OpenID Connect provider for the sign-in tests: npm's ``oidc-provider`` (installed
once, cached, by scripts/oidc-provider-env.sh) run by node with
tests/web/oidc_provider/provider.js, plus a small HTTP client that logs in at it the
way a browser would (its development login and consent forms), for the tests that need
no real browser.

Accounts live in a JSON file the provider reads on every look-up: ``accounts(...)``
changes what a login's claims say between two sign-ins.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from tests.processes import ROOT, free_port, port_open, wait_until

ENV_SCRIPT = ROOT / "scripts" / "oidc-provider-env.sh"
PROVIDER_JS = ROOT / "tests" / "web" / "oidc_provider" / "provider.js"
CALLBACK = "/accounts/oidc/callback/"
TEST_SITE = "http://testserver"  # Django's test client
CLIENT_ID = "oncall"
CLIENT_SECRET = "oncall-test-client-secret-of-32-bytes-or-more"  # noqa: S105 - a test provider's client


def install() -> Path:
    """The directory holding oidc-provider's node_modules (installed when missing)."""
    done = subprocess.run(["bash", str(ENV_SCRIPT)], capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(f"{ENV_SCRIPT.name} failed ({done.returncode}):\n{done.stderr}")
    return Path(lines[-1])


class Provider:
    """One running provider: ``issuer`` (what its tokens say), ``url`` (where it listens)."""

    def __init__(self, issuer: str, url: str, accounts_file: Path) -> None:
        self.issuer, self.url, self.accounts_file = issuer, url, accounts_file

    def accounts(self, **claims_by_login: dict[str, Any]) -> None:
        self.accounts_file.write_text(json.dumps(claims_by_login))

    def settings(self, settings: Any, base_url: str) -> None:
        """Point the Django settings at this provider, this site at ``base_url``."""
        settings.ONCALL_BASE_URL = base_url
        settings.OIDC_ISSUER = self.issuer
        settings.OIDC_CLIENT_ID = CLIENT_ID
        settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Test ID"


@contextmanager
def running_provider(
    workdir: Path, redirect_uris: list[str], *, issuer_host: str = "127.0.0.1"
) -> Iterator[Provider]:
    """A provider on a free loopback port; ``issuer_host`` other than 127.0.0.1 makes it
    call itself by another name than the address it is reached at."""
    modules = install()
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    accounts_file = workdir / f"accounts-{port}.json"
    accounts_file.write_text("{}")
    log = workdir / f"provider-{port}.log"
    issuer = f"http://{issuer_host}:{port}"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "NODE_ENV": "test",
        "OIDC_TEST_MODULES": str(modules),
        "OIDC_TEST_ISSUER": issuer,
        "OIDC_TEST_PORT": str(port),
        "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_TEST_REDIRECT_URIS": json.dumps(redirect_uris),
        "OIDC_TEST_ACCOUNTS": str(accounts_file),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            ["node", str(PROVIDER_JS)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 30, "oidc-provider", log)
        if proc.poll() is not None:
            raise AssertionError(f"oidc-provider exited:\n{log.read_text()[-4000:]}")
        yield Provider(issuer, f"http://127.0.0.1:{port}", accounts_file)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # every redirect is looked at by ``Browser``


class Browser:
    """Cookies and forms, just enough for the provider's development login and consent."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _Stay()
        )

    def _open(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, data=data, timeout=10) as response:
                return response.status, "", response.read().decode()
        except urllib.error.HTTPError as answer:
            location = answer.headers.get("Location", "")
            return answer.code, urllib.parse.urljoin(url, location), answer.read().decode()

    def sign_in(self, authorization_url: str, login: str, redirect_uri: str) -> str:
        """Logs in as ``login`` and consents; returns the URL the provider sends the
        browser back to (``redirect_uri`` with ``code``/``state`` or ``error``)."""
        url, form = authorization_url, None
        for _ in range(12):
            status, location, body = self._open(url, form)
            form = None
            if location.startswith(redirect_uri):
                return location
            if location:
                url = location
                continue
            if status != 200:
                raise AssertionError(f"{url} answered {status}: {body[:500]}")
            action = re.search(r'<form[^>]*action="([^"]+)"', body)
            prompt = re.search(r'name="prompt" value="(\w+)"', body)
            if not (action and prompt):
                raise AssertionError(f"no login or consent form at {url}: {body[:500]}")
            url = urllib.parse.urljoin(url, action.group(1))
            form = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                form |= {"login": login, "password": "any"}
        raise AssertionError("the provider never sent the browser back")
