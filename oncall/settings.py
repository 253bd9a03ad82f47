"""Django settings, all read from the environment through ``oncall.env.Env``.

The table of variables is in README.md ("Configuration"); those that change the API
are also in docs/api.md ("Settings").
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from oncall import logs
from oncall.env import Env, private_value

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.text("ONCALL_DATA_DIR", str(BASE_DIR / "var")))


DEBUG = env.flag("DEBUG", False)
# Without SECRET_KEY: a key generated once per checkout (mode 0600), which every process
# of ``make run`` shares.
SECRET_KEY = env.raw("SECRET_KEY") or private_value(
    DATA_DIR / "secret-key", secrets.token_urlsafe(50)
)

HOST = env.text("HOST", "127.0.0.1")
PORT = env.integer("PORT", 8000, minimum=1)
ONCALL_BASE_URL = (env.url("ONCALL_BASE_URL", {"http", "https"}) or f"http://{HOST}:{PORT}").rstrip(
    "/"
)
ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
_base_host = urlsplit(ONCALL_BASE_URL).hostname
if _base_host and _base_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_base_host)
CSRF_TRUSTED_ORIGINS = [ONCALL_BASE_URL]
if ONCALL_BASE_URL.startswith("https://"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Browsers that reached us over https once keep to https (sent on https requests only).
SECURE_HSTS_SECONDS = env.integer(
    "SECURE_HSTS_SECONDS",
    31_536_000 if ONCALL_BASE_URL.startswith("https://") else 0,
    minimum=0,
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oncall",
    "rotations",
    "escalation",
]

MIDDLEWARE = [
    "oncall.api.middleware.BodySizeLimitMiddleware",
    "oncall.api.middleware.RefuseNulMiddleware",
    "oncall.api.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "oncall.compression.HtmlGZipMiddleware",  # text/html only; docs/operations.md
    "oncall.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "oncall.login_limits.LoginLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "oncall.urls"
WSGI_APPLICATION = "oncall.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", DATA_DIR / "db.sqlite3")}
if str(DATABASES["default"]["ENGINE"]).endswith("sqlite3"):
    Path(str(DATABASES["default"]["NAME"])).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.url("REDIS_URL", {"redis", "rediss", "unix"})
if REDIS_URL:
    # A Redis outage reads as an empty cache (oncall/cache.py); the short timeouts
    # bound what a hung Redis costs a request.
    CACHES = {
        "default": {
            "BACKEND": "oncall.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The web UI's login (the admin keeps its own); back to the incidents after it.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web-incidents"
LOGOUT_REDIRECT_URL = "login"

# docs/api.md ("Limits"): bodies over 1 MiB answer 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# LOG_FORMAT=json: one JSON object per line for log shippers (oncall/logs.py); gunicorn
# (oncall/gunicorn_config.py) and Celery (oncall/celery.py) follow the same setting.
LOG_LEVEL, LOG_FORMAT = logs.from_env(env)
LOGGING = logs.logging_config(LOG_LEVEL, LOG_FORMAT)
LOGGING_CONFIG = "oncall.logs.configure"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oncall.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["oncall.api.auth.HasScope"],
    "DEFAULT_PAGINATION_CLASS": "oncall.api.pagination.Pagination",
    # JSON only (API.md); depth, non-finite numbers and U+0000 are refused here once.
    "DEFAULT_PARSER_CLASSES": ["oncall.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per token; ingestion views use IngestRate (ONCALL_RATE_INGEST) instead.
    "DEFAULT_THROTTLE_CLASSES": ["oncall.api.throttling.ApiRate"],
    "EXCEPTION_HANDLER": "oncall.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# docs/api.md, "Limits" (oncall/api/throttling.py, oncall/login_limits.py).
ONCALL_RATE_INGEST = env.rate("ONCALL_RATE_INGEST", "50/s")
ONCALL_RATE_API = env.rate("ONCALL_RATE_API", "20/s")
ONCALL_LOGIN_FAILURES = env.integer("ONCALL_LOGIN_FAILURES", 10, minimum=1)
ONCALL_LOGIN_WINDOW_SECONDS = env.integer("ONCALL_LOGIN_WINDOW_SECONDS", 900, minimum=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "oncall API",
    "DESCRIPTION": (
        "On-call rotations, incidents and escalation. The reference, with examples and "
        "the generic event format, is docs/api.md in the repository."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "oncall.api.schema.add_error_responses",
    ],
    # Served from the package, so the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# E-mail (EMAIL_URL) ------------------------------------------------------------
globals().update(env.email("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "oncall@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery -------------------------------------------------------------------------
ESCALATION_TICK_SECONDS = env.integer("ESCALATION_TICK_SECONDS", 5, minimum=1)
# Told when a whole policy reaches nobody and the repo has no team to tell.
ONCALL_FALLBACK_EMAIL = env.raw("ONCALL_FALLBACK_EMAIL")
# Signs webhook notifications (X-Oncall-Signature); give receivers the same value.
ONCALL_WEBHOOK_SECRET = (
    env.raw("ONCALL_WEBHOOK_SECRET")
    or hashlib.sha256(f"oncall-webhook:{SECRET_KEY}".encode()).hexdigest()
)
# Webhooks may reach loopback/private/link-local addresses only when set (SSRF guard).
ONCALL_WEBHOOK_ALLOW_PRIVATE = env.flag("ONCALL_WEBHOOK_ALLOW_PRIVATE", False)
ONCALL_ACTION_LINK_DAYS = env.integer("ONCALL_ACTION_LINK_DAYS", 7, minimum=1)
# Storm protection: an address gets at most ONCALL_EMAIL_BURST mails per window at once;
# further pages in that window go out as one digest at its end. 0 turns batching off.
ONCALL_EMAIL_BURST = env.integer("ONCALL_EMAIL_BURST", 5, minimum=0)
ONCALL_EMAIL_BURST_WINDOW_SECONDS = env.integer("ONCALL_EMAIL_BURST_WINDOW_SECONDS", 60, minimum=1)
CELERY_BROKER_DIR = DATA_DIR / "broker"
# The embedded broker (no REDIS_URL): how often an idle worker looks for new tasks.
CELERY_BROKER_POLL_MS = env.integer("CELERY_BROKER_POLL_MS", 100, minimum=10)
# /healthz answers 503 when beat's or the worker's heartbeat is older than this
# (beat records its own every 10 s; a worker runs the heartbeat task every 30 s).
ONCALL_HEARTBEAT_STALE_SECONDS = env.integer("ONCALL_HEARTBEAT_STALE_SECONDS", 120, minimum=30)
# GET /metrics without a token (e.g. a Prometheus on a private network); else `read` scope.
ONCALL_METRICS_PUBLIC = env.flag("ONCALL_METRICS_PUBLIC", False)

# Integrations -------------------------------------------------------------------
GITHUB_WEBHOOK_SECRET = env.raw("GITHUB_WEBHOOK_SECRET")
MATRIX_HOMESERVER = env.url("MATRIX_HOMESERVER", {"http", "https"})
MATRIX_ACCESS_TOKEN = env.raw("MATRIX_ACCESS_TOKEN")
# Reaction key → action; keys are compared without variation selectors (U+FE0F).
MATRIX_REACTIONS = env.mapping(
    "MATRIX_REACTIONS",
    "👀=claim,✅=resolve,🔇=mute,↩️=unclaim",
    {"claim", "resolve", "mute", "unclaim"},
)
MATRIX_MUTE_SECONDS = env.integer("MATRIX_MUTE_SECONDS", 86400, minimum=60)
# At most one edit of an incident's message per this many seconds (a storm of repeats).
MATRIX_EDIT_INTERVAL_SECONDS = env.integer("MATRIX_EDIT_INTERVAL_SECONDS", 5, minimum=1)
ZUUL_MQTT_URL = env.url("ZUUL_MQTT_URL", {"mqtt", "mqtts", "ws", "wss"})
ZUUL_MQTT_TOPIC = env.text("ZUUL_MQTT_TOPIC", "zuul/#")

# Sign-in with an identity provider (oncall/oidc.py, rotations/sign_in.py) -------------
# Off unless OIDC_ISSUER is set; the client id and secret are then required.
# Exactly as the provider's tokens name it (a trailing slash matters).
OIDC_ISSUER = env.url("OIDC_ISSUER", {"http", "https"}) or ""
OIDC_CLIENT_ID = env.text("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env.text("OIDC_CLIENT_SECRET", "")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise env.fail("OIDC_ISSUER", "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are needed with it")
OIDC_PROVIDER_NAME = env.text("OIDC_PROVIDER_NAME", "")
OIDC_SCOPES = env.text("OIDC_SCOPES", "openid email profile groups")
OIDC_GROUPS_CLAIM = env.text("OIDC_GROUPS_CLAIM", "groups")
OIDC_STAFF_GROUPS = env.items("OIDC_STAFF_GROUPS", [])
OIDC_LEAD_GROUP_PREFIX = env.text("OIDC_LEAD_GROUP_PREFIX", "")

# Feeds --------------------------------------------------------------------------
ONCALL_FEED_DAYS_BACK = env.integer("ONCALL_FEED_DAYS_BACK", 60, minimum=0)
ONCALL_FEED_DAYS_AHEAD = env.integer("ONCALL_FEED_DAYS_AHEAD", 400, minimum=1)
ONCALL_HANDOFF_NOTICE_HOURS = env.integer("ONCALL_HANDOFF_NOTICE_HOURS", 24, minimum=1)

# make run ----------------------------------------------------------------------
WEB_CONCURRENCY = env.integer("WEB_CONCURRENCY", 2, minimum=1)
ONCALL_DEMO = env.flag("ONCALL_DEMO", True)
