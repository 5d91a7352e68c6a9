"""The load generator (scripts/loadtest.py) works: three people for five seconds against a
real gunicorn (config/gunicorn_conf.py, threaded workers) on the test's PostgreSQL
database sign in through the form, walk the journey, attest through the API, and the
script reports figures for every step with no error."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from django.utils import timezone

from registry.services.tokens import token_create
from tests.support_processes import (
    ROOT,
    database_url_for_subprocesses,
)
from tests.support_processes import Gunicorn as SharedGunicorn


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadtest", ROOT / "scripts" / "loadtest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while being built.
    sys.modules["loadtest"] = module
    spec.loader.exec_module(module)
    return module


# --- the figures (no server needed) -------------------------------------------------------


def test_percentiles_are_nearest_rank():
    loadtest = load_script()
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert loadtest.percentile(values, 0.50) == 50.0
    assert loadtest.percentile(values, 0.95) == 95.0
    assert loadtest.percentile(values, 0.99) == 99.0
    assert loadtest.percentile([3.0, 1.0, 2.0], 0.95) == 3.0
    assert loadtest.percentile([7.0], 0.5) == 7.0


def test_the_summary_counts_errors_and_leaves_the_probe_out_of_the_rate():
    loadtest = load_script()
    recorder = loadtest.Recorder()
    recorder.add("GET /", 0.2, "200", True)
    recorder.add("GET /", 0.4, "500", False)
    recorder.add("POST /login/", 0.1, "302", True)
    recorder.add("GET /healthz (probe)", 0.01, "200", True)
    options = loadtest.Options(
        base_url="http://127.0.0.1:1/", users=1, duration=2, think=0, timeout=5, ramp=0,
        write_every=1, relogin_every=1, password="x",
    )  # fmt: skip
    summary = loadtest.summarise(recorder, 2.0, options)
    assert summary["requests"] == 3
    assert summary["requests_per_s"] == 1.5
    assert summary["errors"] == 1
    assert summary["endpoints"]["GET /"]["statuses"] == {"200": 1, "500": 1}
    assert summary["login_p95_ms"] == 100.0
    assert summary["healthz_max_ms"] == 10.0
    assert "GET /" in loadtest.table(summary)


# --- a real run ---------------------------------------------------------------------------


@pytest.fixture
def gunicorn(tmp_path, transactional_db) -> Iterator[SharedGunicorn]:
    # After transactional_db in teardown order: the server is gone before the flush.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url_for_subprocesses(),
        NHI_VAR_DIR=str(tmp_path / "var"),
        GUNICORN_THREADS="4",
        PYTHONUNBUFFERED="1",
    )
    server = SharedGunicorn(tmp_path, env, workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_short_run_against_a_live_server_reports_figures_and_no_error(
    gunicorn, personas, make_path, tmp_path
):
    now = timezone.now()
    for number in range(3):
        make_path(name=f"ledger-sync-{number}", risk_tier="low", now=now)
    make_path(name="warehouse-loader", owner_team=personas.teams.data, risk_tier="low", now=now)
    tokens = {}
    for name in ("sam", "pat", "lee"):
        user = getattr(personas.users, name)
        _, tokens[name] = token_create(
            actor=personas.system, name=f"load-{name}", scopes=["read", "write"], user=user
        )
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    result = tmp_path / "result.json"
    gunicorn.start()

    # Trusted argv (no shell): this interpreter running the project's script.
    command = [
        sys.executable, str(ROOT / "scripts" / "loadtest.py"),
        "--base-url", f"http://127.0.0.1:{gunicorn.port}", "--users", "3",
        "--duration", "5", "--ramp", "1", "--write-every", "1", "--relogin-every", "2",
        "--people", "sam,pat,lee", "--tokens-file", str(tokens_file), "--json", str(result),
        "--timeout", "20",
    ]  # fmt: skip
    run = subprocess.run(  # noqa: S603
        command,
        cwd=ROOT,
        env={**os.environ, "LOADTEST_PASSWORD": "nhi-demo-pass"},
        capture_output=True,
        text=True,
        timeout=90,
    )
    context = f"{run.stdout}\n{run.stderr}\n{gunicorn.logs()}"
    assert run.returncode == 0, context
    summary = json.loads(result.read_text())
    assert summary["errors"] == 0, context
    assert summary["requests"] > 0 and summary["requests_per_s"] > 0, context
    endpoints = summary["endpoints"]
    # Each person signed in (again, every second loop), and every step of the journey ran.
    assert endpoints["POST /login/"]["count"] >= 3, context
    assert endpoints["POST /login/"]["statuses"] == {"302": endpoints["POST /login/"]["count"]}
    for step in (
        "GET /", "GET /paths/?filter", "GET /paths/<id>/", "GET /teams/<slug>/",
        "GET /queues/mine/", "GET /api/v1/access-paths/", "GET /api/v1/access-paths/<id>/",
        "POST /api/v1/access-paths/<id>/attest/", "GET /healthz (probe)",
    ):  # fmt: skip
        assert endpoints.get(step, {}).get("count", 0) >= 1, f"{step} never ran\n{context}"
    assert summary["login_p95_ms"] is not None and summary["healthz_max_ms"] is not None
    assert "requests/s" in run.stdout
    # Credentials never reach the output.
    for token in tokens.values():
        assert token not in run.stdout + run.stderr
    assert "nhi-demo-pass" not in run.stdout + run.stderr
