"""`manage.py bench` keeps working: a tiny run on PostgreSQL, in a subprocess as an
operator runs it, exits 0, prints one table with every row, writes the JSON file with
the same rows and sane query counts, and drops its scratch database; on SQLite it
refuses with a clear message. Times are never asserted: speed is what the command
reports, not what CI checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# Every row of the table, by section (the API's and the import's labels carry values).
EXPECTED = {
    "load": ["load 500 paths", "rebuild_tallies (the dashboard's tally)"],
    "pages": [
        "dashboard /",
        "inventory, first page",
        "inventory ?status=overdue&sort=review",
        "inventory ?posture=any",
        "inventory, mid-table cursor",
        "path page",
        "admin changelist (AccessPath)",
    ],
    "api": [
        "API no filter, first page",
        "API status=overdue&owner_team=team-",
        "API status=lapsed",
        "API q=ledger",
        "API cursor= half-way through the table",
    ],
    "triage": [
        "triage by key id, security",
        "triage by fingerprint, outsider",
        "triage of an unknown key id",
    ],
    "export": ["CSV export ?status=lapsed"],
    "sweep": ["sweep, first run", "sweep again, nothing new"],
    "import": ["import 60 new rows", "import 60 unchanged rows"],
    "leases": ["record 5,000-lease batches"],
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _scratch_databases() -> set[str]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
    ) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'nhi_bench_%'")
        return {name for (name,) in rows}


@pytest.mark.postgres
def test_bench_prints_every_row_writes_json_and_drops_its_scratch_database(tmp_path):
    target = tmp_path / "bench.json"
    result = _manage(
        "bench", "--paths", "500", "--samples", "2", "--import-rows", "60",
        "--json", str(target), env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    scratch = next(line for line in out.splitlines() if line.startswith("scratch database "))
    scratch = scratch.split()[2]
    assert scratch.startswith("nhi_bench_"), out
    for header in ("what", "first", "median", "p95", "queries", "peak MB", "anchor", "ratio"):
        assert header in out, out
    table = out.splitlines()
    for labels in EXPECTED.values():
        for label in labels:
            assert any(line.startswith(label) for line in table), (label, out)
    assert f"scratch database {scratch} dropped" in out
    assert scratch not in _scratch_databases()

    report = json.loads(target.read_text())
    assert report["paths"] == 500 and report["complete"] is True
    assert report["machine"]["nproc"] >= 1 and report["postgresql"]["version"]
    assert report["load"]["paths"] == 500 and report["load"]["identifiers"] == 1000
    assert sum(report["estate"]["statuses"].values()) == 500
    by_section: dict[str, list[dict]] = {}
    for row in report["rows"]:
        by_section.setdefault(row["section"], []).append(row)
    assert sorted(by_section) == sorted(EXPECTED)
    for section, labels in EXPECTED.items():
        whats = [row["what"] for row in by_section[section]]
        assert len(whats) == len(labels), (section, whats)
        for label, what in zip(labels, whats, strict=True):
            assert what.startswith(label), (section, whats)
    for row in report["rows"]:
        timing = row["timing"]
        assert timing["first_ms"] > 0 and timing["peak_mb"] >= 0, row
        if row["section"] in ("pages", "api", "triage", "export"):
            assert len(timing["samples_ms"]) >= 1, row
            # A page or a list is a handful of statements, never one per row.
            assert 1 <= timing["queries"] <= 30, row
    anchored = [row for row in report["rows"] if row["anchor"]]
    assert all(row["anchor_timing"]["first_ms"] > 0 and row["ratio"] for row in anchored)
    api = by_section["api"]
    assert all(row["extra"]["same_rows"] for row in api), api
    # The sweep queued its notices in bulk: far fewer statements than due paths would
    # take one by one, and nothing new the second time.
    first, again = by_section["sweep"]
    assert first["extra"]["summary"], first
    assert sum(first["extra"]["set_based_outbox_rows"].values()) > 0, first
    again_rows = sum(again["extra"]["set_based_outbox_rows"].values())
    assert again_rows < sum(first["extra"]["set_based_outbox_rows"].values()), again
    imported = by_section["import"]
    assert "created 60" in imported[0]["note"] and "unchanged 60" in imported[1]["note"]
    assert by_section["export"][0]["extra"]["rows"] > 0


@pytest.mark.postgres
def test_bench_sections_choose_what_is_measured(tmp_path):
    target = tmp_path / "bench.json"
    result = _manage(
        "bench", "--paths", "200", "--samples", "1", "--sections", "api",
        "--json", str(target), env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    sections = {row["section"] for row in json.loads(target.read_text())["rows"]}
    assert sections == {"load", "api"}


def test_bench_refuses_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = _manage("bench", "--paths", "300", env={**env, "NHI_VAR_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "bench measures PostgreSQL only" in result.stderr
    assert not list(tmp_path.glob("*.sqlite3"))


def test_bench_refuses_an_unknown_section(tmp_path):
    result = _manage(
        "bench", "--sections", "pages,nonsense",
        env={**os.environ, "NHI_VAR_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "nonsense" in result.stderr


@pytest.mark.postgres
def test_bench_import_prints_rates_and_drops_its_scratch_database():
    result = _manage("bench_import", "--rows", "60", env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    created = [line for line in out.splitlines() if line.startswith("scratch database ")]
    scratch = created[0].split()[2]
    assert "import_paths (all new)" in out and "created 60" in out, out
    assert "import_paths again (all unchanged)" in out and "unchanged 60" in out, out
    assert "COPY of the same file (yardstick)" in out and "rows/s" in out, out
    assert scratch not in _scratch_databases()
