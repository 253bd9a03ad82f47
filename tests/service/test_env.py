import pytest
from django.core.exceptions import ImproperlyConfigured

from oncall.env import Env


def test_database_url_defaults_to_sqlite(tmp_path):
    db = Env({}).database("DATABASE_URL", tmp_path / "db.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "db.sqlite3")


def test_postgres_url_is_parsed_with_options():
    env = Env({"DATABASE_URL": "postgres://u:p%40ss@db.example:6543/oncall?sslmode=require"})
    db = env.database("DATABASE_URL", None)  # type: ignore[arg-type]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u",
        "p@ss",
        "db.example",
        "6543",
        "oncall",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "postgres://host:notaport/db",
        "postgres://host/",
        "postgres:///db",
        "sqlite://",
    ],
)
def test_bad_database_url_fails_loudly_naming_the_variable(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        Env({"DATABASE_URL": url}).database("DATABASE_URL", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://u:p@mail.example:2525",
            {
                "EMAIL_HOST": "mail.example",
                "EMAIL_PORT": 2525,
                "EMAIL_USE_TLS": False,
                "EMAIL_HOST_USER": "u",
            },
        ),
        ("smtp+tls://mail.example", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True}),
        ("smtps://mail.example", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True}),
    ],
)
def test_email_url(url, expected):
    email = Env({"EMAIL_URL": url}).email("EMAIL_URL")
    assert email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert expected.items() <= email.items()


def test_email_defaults_to_console():
    backend = Env({}).email("EMAIL_URL")["EMAIL_BACKEND"]
    assert backend == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("name", "value", "call"),
    [
        ("DEBUG", "maybe", lambda env: env.flag("DEBUG", False)),
        ("ESCALATION_TICK_SECONDS", "5s", lambda env: env.integer("ESCALATION_TICK_SECONDS", 5)),
        (
            "ESCALATION_TICK_SECONDS",
            "0",
            lambda env: env.integer("ESCALATION_TICK_SECONDS", 5, minimum=1),
        ),
        ("REDIS_URL", "http://localhost", lambda env: env.url("REDIS_URL", {"redis"})),
        ("EMAIL_URL", "smtp://", lambda env: env.email("EMAIL_URL")),
        ("ONCALL_RATE_API", "20 per second", lambda env: env.rate("ONCALL_RATE_API", "20/s")),
    ],
)
def test_bad_values_fail_loudly(name, value, call):
    with pytest.raises(ImproperlyConfigured, match=name):
        call(Env({name: value}))


def test_unset_and_empty_values_take_the_default():
    env = Env({"DEBUG": "", "PORT": "  "})
    assert env.flag("DEBUG", False) is False
    assert env.integer("PORT", 8000) == 8000
    assert env.items("ALLOWED_HOSTS", ["a"]) == ["a"]
    assert Env({"ALLOWED_HOSTS": "x, y,"}).items("ALLOWED_HOSTS", []) == ["x", "y"]


ACTIONS = {"claim", "resolve", "mute", "unclaim"}


def test_reaction_mapping_is_parsed_and_defaults_when_unset():
    assert Env({}).mapping("MATRIX_REACTIONS", "👀=claim,✅=resolve", ACTIONS) == {
        "👀": "claim",
        "✅": "resolve",
    }
    custom = Env({"MATRIX_REACTIONS": " 🙋 = claim , 🎉=resolve,"})
    assert custom.mapping("MATRIX_REACTIONS", "👀=claim", ACTIONS) == {
        "🙋": "claim",
        "🎉": "resolve",
    }


@pytest.mark.parametrize("value", ["👀=dance", "👀", "=claim", "👀:claim"])
def test_bad_reaction_mapping_fails_loudly_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match="MATRIX_REACTIONS"):
        Env({"MATRIX_REACTIONS": value}).mapping("MATRIX_REACTIONS", "👀=claim", ACTIONS)
