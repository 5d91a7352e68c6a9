"""`make backup-check` (scripts/backup_check.py): a backup restores, and is the registry.

Runs the real script in a subprocess against the test database: pg_dump, a scratch
database on the same server, pg_restore, row counts, `verify_audit --anchors` there,
and the scratch database dropped. It passes while a writer keeps appending (the dump
and the counts share one exported snapshot), and fails when the chain it restores was
tampered with, or rewritten consistently (caught by the anchors alone).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from registry.audit import audit_record
from registry.audit.anchors import anchor_now
from registry.models import AuditEvent, Team
from registry.rules.actors import Actor
from tests.audit.test_anchors import rewrite_history
from tests.processes.test_sweep_concurrency import database_url

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "backup_check.py"
SCRATCH = re.compile(r"created scratch database (nhi_restore_check_\w+)")


def backup_check(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(DJANGO_SETTINGS_MODULE="tests.settings", **env)
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(SCRIPT)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=settings.BASE_DIR,
    )


def check_database(**env: str) -> subprocess.CompletedProcess:
    return backup_check(
        DATABASE_URL=database_url(), NHI_AUDIT_ANCHOR_DIR=str(settings.NHI_AUDIT_ANCHOR_DIR), **env
    )


def scratch_databases_left(output: str) -> list[str]:
    names = SCRATCH.findall(output)
    assert names, output
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [names])
        return [name for (name,) in cursor.fetchall()]


@pytest.fixture
def estate(personas, make_path, unowned_path):
    """A small registry: teams, people, paths, a claim; anchored."""
    for n in range(3):
        make_path(name=f"billing-export-{n}", external_id=f"arn:aws:iam::1:user/billing-{n}")
    anchor_now(now=timezone.now())
    return AuditEvent.objects.count()


@contextmanager
def writer_appending(team: Team) -> Iterator[None]:
    """Audit events appended on another connection for as long as the block runs."""
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        try:
            while not stop.is_set():
                with transaction.atomic():
                    audit_record(
                        actor=Actor.system("writer"), action="test.appended", obj=team,
                        now=timezone.now(),
                    )  # fmt: skip
                written.append(1)
        finally:
            connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert written, "the writer never committed: the test proved nothing"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_backup_restores_verifies_and_matches_while_the_registry_writes(estate, personas):
    with writer_appending(personas.teams.payments):
        done = check_database()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Audit chain intact" in output
    assert "Anchors match: 1 signed anchors" in output
    assert re.search(r"row counts match: \d+ tables", output), output
    assert scratch_databases_left(output) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_tampered_chain_fails_the_check(estate):
    victim = AuditEvent.objects.order_by("seq")[2]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE registry_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE registry_auditevent SET action = 'team.renamed' WHERE seq = %s", [victim.seq]
        )
        cursor.execute("ALTER TABLE registry_auditevent ENABLE TRIGGER USER")
    done = check_database()
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"Audit chain BROKEN at event #{victim.seq}" in output
    assert scratch_databases_left(output) == []  # dropped on failure too


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_consistently_rewritten_chain_fails_against_the_anchors(estate):
    victim = AuditEvent.objects.order_by("seq")[3]
    with transaction.atomic():
        rewrite_history(victim.seq, actor_label="sam")
    done = check_database()
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Audit chain intact" in output  # the forgery agrees with itself ...
    assert f"event #{victim.seq} no longer matches the anchor" in output  # ... not its anchors
    assert scratch_databases_left(output) == []


def test_sqlite_is_refused_with_a_reason(tmp_path):
    done = backup_check(NHI_VAR_DIR=str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CANNOT RUN: PostgreSQL only" in done.stdout
