"""``python -m oncall.healthcheck [URL]``: exit 0 when ``/healthz`` answers 200, else 1.

The image's HEALTHCHECK (slim images have no curl). It sends the host of
``ONCALL_BASE_URL`` as ``Host``, which the settings always allow, so a restrictive
``ALLOWED_HOSTS`` does not make a healthy web node look sick.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000/healthz?scope=web"


def healthy(url: str) -> bool:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")
    from django.conf import settings

    host = urlsplit(settings.ONCALL_BASE_URL).netloc
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 (http only)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL) else 1)
