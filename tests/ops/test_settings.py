"""Start-up refuses unsafe production settings with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "kX9v-Qp2_Lm7" * 6


def start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "CRITICAL"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ALLOWED_HOSTS": "nhi.example.com"}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "nhi.example.com"}, "SECRET_KEY is weak"),
        (
            {"SECRET_KEY": "django-insecure-" + STRONG_KEY, "ALLOWED_HOSTS": "x.example.com"},
            "SECRET_KEY is weak",
        ),
        ({"SECRET_KEY": "a" * 80, "ALLOWED_HOSTS": "nhi.example.com"}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
    ],
)
def test_debug_off_refuses_unsafe_settings(overrides, message):
    result = start(overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_off_starts_with_safe_settings():
    result = start({"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "nhi.example.com"})
    assert result.returncode == 0, result.stderr


def test_debug_on_needs_no_secret_key():
    result = start({"DEBUG": "1", "SECRET_KEY": "", "ALLOWED_HOSTS": ""})
    assert result.returncode == 0, result.stderr


def test_sqlite_default_uses_wal_and_immediate_transactions(settings):
    from config.database import database_config
    from config.settings import VAR_DIR

    saved = os.environ.pop("DATABASE_URL", None)
    try:
        config = database_config(VAR_DIR)
    finally:
        if saved is not None:
            os.environ["DATABASE_URL"] = saved
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"].endswith("var/nhi-registry.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert "busy_timeout" in config["OPTIONS"]["init_command"]


def test_database_url_selects_postgresql(monkeypatch):
    from config.database import database_config
    from config.settings import VAR_DIR

    monkeypatch.setenv("DATABASE_URL", "postgres://nhi:pw@db.internal:5432/nhi")
    config = database_config(VAR_DIR)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["NAME"]) == ("db.internal", "nhi")


@pytest.mark.django_db
def test_migrations_match_models():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
