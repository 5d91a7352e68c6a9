"""The documented production setup holds up: `check --deploy` is clean, the compose file
is valid against the Compose specification and ships no default secret or open inbox,
and the app serves its own static files under hashed names."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# The Compose specification's JSON schema as docker-compose 1.29.2 ships it
# (compose/config/compose_spec.json, Apache-2.0): no network needed to validate.
COMPOSE_SPEC = Path(__file__).parents[1] / "samples" / "compose" / "compose_spec.json"


def test_check_deploy_is_clean_in_the_documented_production_environment(tmp_path):
    key = tmp_path / "audit.pem"
    subprocess.run(  # noqa: S603 - our own manage.py, fixed argv
        [sys.executable, "manage.py", "audit_signing_key", "--generate", str(key)],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"},
    )  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "nhi.example.com",
        "BASE_URL": "https://nhi.example.com",
        "BEHIND_TLS_PROXY": "1",
        "NHI_AUDIT_SIGNING_KEY_FILE": str(key),
        "NHI_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_is_valid_against_the_specification():
    schema = json.loads(COMPOSE_SPEC.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_a_typo_in_the_compose_file_would_be_caught():
    schema = json.loads(COMPOSE_SPEC.read_text())
    broken = compose()
    broken["services"]["web"]["restrat"] = "always"
    validator = jsonschema.Draft201909Validator(schema)
    assert list(validator.iter_errors(broken))


def test_the_compose_file_ships_no_default_secret_and_no_open_inbox():
    text = COMPOSE.read_text()
    for variable in ("SECRET_KEY", "POSTGRES_PASSWORD", "NHI_APP_DB_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"(:?[-?][^}]*)?\}", text)
        assert uses, variable
        # required (":?"), never defaulted (":-")
        assert all(u.startswith(":?") for u in uses), (variable, uses)
    services = compose()["services"]
    assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]
    app_url = services["web"]["environment"]["DATABASE_URL"]
    assert app_url.startswith("postgres://nhi_app:")  # the role that owns nothing
    assert "BEHIND_TLS_PROXY" in services["web"]["environment"]


@pytest.mark.django_db
def test_the_app_serves_its_static_files_under_hashed_names(tmp_path):
    manifest_storage = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path / "static", STORAGES=manifest_storage):
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.contrib.staticfiles.storage import staticfiles_storage

        staticfiles_storage._setup()  # re-read the storage under the overridden settings
        url = staticfiles_storage.url("css/app.css")
        assert re.search(r"/static/css/app\.[0-9a-f]{12}\.css$", url), url
        client = Client()  # a new handler: WhiteNoise scans the collected files
        response = client.get(url)
        assert response.status_code == 200
        assert "max-age=315360000" in response["Cache-Control"]
        body = b"".join(response.streaming_content)
        assert body == (ROOT / "static" / "css" / "app.css").read_bytes()
