"""Delivery under faults, with real processes (issue 14): a Celery worker (and its
embedded beat) on a private Redis, a private PostgreSQL that the test restarts or stops
(tests/support_postgres.py, never the shared server), a loopback SMTP sink that takes
its time over each message, and a mail server that trickles one byte a second.

What they show:
- PostgreSQL restarted while a digest is being sent: the send succeeded, marking it sent
  fails, the mark is retried (reconnecting) and goes through: every notification ends
  sent, no digest arrives twice.
- PostgreSQL away longer than the mark window (lease - 2 s after the renewal): the one
  digest that was in flight is sent again once its lease has run out, with the same
  Message-ID; nothing else repeats and nothing is lost. That is the documented duplicate
  window, measured here.
- A trickling mail server holds the worker for NHI_SMTP_TOTAL_SECONDS at most: the
  delivery task ends at the deadline and the worker runs its next task (a sweep).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from registry.rules.policies import DELIVERY_CLOCK_ALLOWANCE_SECONDS
from tests.processes.helpers import Rig
from tests.support_postgres import PrivatePostgres, may_skip_private_postgres
from tests.support_processes import (
    ROOT,
    TricklingSmtp,
    Worker,
    process_env,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(may_skip_private_postgres(), reason="needs PostgreSQL's binaries"),
]

TEMPLATE = "nhi_faults_template"
TEAM_COUNT = 6
SEND_SECONDS = 1.5  # how long the sink takes over each message: the window to hit

SEED = """
import sys

import django

django.setup()

from django.db import transaction
from django.utils import timezone

from registry import services
from registry.models import Team
from registry.notifications.outbox import Notice, queue
from registry.rules.actors import Actor
from tests.conftest import path_data

system = Actor.system("fault-test")
now = timezone.now()
teams = [
    services.team_create(
        actor=system,
        data={"slug": f"team-{i}", "name": f"Team {i}", "kind": Team.Kind.PRODUCT,
              "email": f"team-{i}@example.com"},
        now=now,
    )
    for i in range(1, int(sys.argv[1]) + 1)
]
notices = []
for team in teams:
    path = services.path_register(
        actor=system,
        data=path_data(owner_team=team, name=f"job-{team.slug}", external_id=team.slug,
                       risk_tier="low"),
        now=now,
    )
    notices.append(Notice(team_id=team.pk, audience="members", path_id=path.pk,
                          reason="review_reminder", cycle=now, stage=7))
with transaction.atomic():
    print(queue(notices, teams={t.pk: t for t in teams}, now=now))
"""


def run_python(args: list[str], env: dict[str, str], *, timeout: float = 120) -> str:
    # Trusted argv (no shell): this interpreter running our own script or manage.py.
    done = subprocess.run(  # noqa: S603
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory) -> Iterator[PrivatePostgres]:
    """One private server for the module; a migrated template each test copies."""
    server = PrivatePostgres()
    try:
        server.start()
        url = server.create_database(TEMPLATE)
        env = process_env(broker_port=1, smtp_port=1, var_dir=tmp_path_factory.mktemp("var"))
        run_python(["manage.py", "migrate", "--no-input"], {**env, "DATABASE_URL": url})
        yield server
    finally:
        server.close()


def fresh_database(server: PrivatePostgres, name: str) -> str:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')  # our fixed names
    return server.url(name)


@pytest.fixture
def rig(request, tmp_path) -> Iterator[Rig]:
    failed_before = request.session.testsfailed
    processes = Rig(tmp_path)
    yield processes
    try:
        if request.session.testsfailed > failed_before:
            print(processes.logs())  # shown under "Captured stdout teardown"
    finally:
        processes.close()


def full_log(worker: Worker) -> str:
    return worker.log_path.read_text(errors="replace")


def start_worker(rig: Rig, name: str, env: dict[str, str]) -> Worker:
    worker = Worker(name, rig.directory, env)
    rig.workers.append(worker)
    worker.start()
    return worker


def statuses(url: str) -> Counter:
    """Notification statuses; empty while the database is away."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            found = conn.execute(
                "SELECT status, count(*) FROM registry_notification GROUP BY status"
            ).fetchall()
    except psycopg.OperationalError:
        return Counter()
    return Counter(dict(found))


def all_sent(url: str, worker: Worker, count: int) -> None:
    def done() -> bool:
        worker.require_alive()
        return statuses(url) == Counter(sent=count)

    wait_until(
        done,
        what=f"all {count} notifications to be sent",
        timeout=90,
        interval=0.3,
        context=lambda: f"statuses: {statuses(url)}\n{worker.log()}",
    )


def a_send_in_flight(rig: Rig, worker: Worker, *, after: int) -> None:
    assert rig.smtp is not None
    handler = rig.smtp.handler

    def in_flight() -> bool:
        worker.require_alive()
        return handler.count() >= after and handler.in_flight() == 1

    wait_until(in_flight, what="a digest being sent", interval=0.02, context=worker.log)


def test_postgres_restart_mid_send_resends_nothing(private_pg, rig):
    lease, send_total = 20, 5
    url = fresh_database(private_pg, "nhi_faults_restart")
    smtp = rig.start_smtp(delay=SEND_SECONDS)
    rig.redis.start()
    env = {
        **rig.env(),
        "DATABASE_URL": url,
        "NHI_DELIVERY_LEASE_SECONDS": str(lease),
        "NHI_SMTP_TOTAL_SECONDS": str(send_total),
    }
    assert run_python(["-c", SEED, str(TEAM_COUNT)], env).strip() == str(TEAM_COUNT)
    worker = start_worker(rig, "restart", env)

    a_send_in_flight(rig, worker, after=2)
    started = time.monotonic()
    private_pg.restart()  # `pg_ctl stop -m fast` ends every session, then start
    outage = time.monotonic() - started
    all_sent(url, worker, TEAM_COUNT)

    per_id = Counter(m.message_id for m in smtp.handler.messages)
    per_team = Counter(r for m in smtp.handler.messages for r in m.recipients)
    window = lease - DELIVERY_CLOCK_ALLOWANCE_SECONDS - send_total
    print(
        f"PostgreSQL restart took {outage:.2f}s; mark window at least {window}s "
        f"(lease {lease} - longest send {send_total} - {DELIVERY_CLOCK_ALLOWANCE_SECONDS}); "
        f"digests received twice: {sum(n > 1 for n in per_id.values())}"
    )
    assert outage < window, "the restart outlasted the window: duplicates are allowed then"
    assert sorted(per_team) == [f"team-{i}@example.com" for i in range(1, TEAM_COUNT + 1)]
    assert set(per_team.values()) == {1}, f"a digest arrived twice: {per_team}"
    assert len(per_id) == TEAM_COUNT and all(i.startswith("<nhi-digest-") for i in per_id)
    # The fault hit the mark of a sent digest, and the retry carried it through.
    assert "database unavailable marking a sent digest" in full_log(worker), worker.log()


def test_postgres_away_past_the_mark_window_resends_one_digest_once(private_pg, rig):
    lease, send_total = 7, 2  # the mark window ends 5 s after the renewal
    url = fresh_database(private_pg, "nhi_faults_outage")
    smtp = rig.start_smtp(delay=SEND_SECONDS)
    rig.redis.start()
    env = {**rig.env(), "DATABASE_URL": url, "NHI_DELIVERY_LEASE_SECONDS": str(lease)}
    assert env["NHI_SMTP_TOTAL_SECONDS"] == str(send_total)
    assert run_python(["-c", SEED, str(TEAM_COUNT)], env).strip() == str(TEAM_COUNT)
    worker = start_worker(rig, "outage", env)

    a_send_in_flight(rig, worker, after=1)
    in_flight_at = time.monotonic()
    private_pg.stop()
    time.sleep(lease + 1)  # away past the mark window and the lease
    private_pg.start()
    outage = time.monotonic() - in_flight_at
    all_sent(url, worker, TEAM_COUNT)

    messages = smtp.handler.messages
    per_team = Counter(r for m in messages for r in m.recipients)
    repeated = {team: n for team, n in per_team.items() if n > 1}
    assert len(per_team) == TEAM_COUNT, "a team's digest never arrived"
    assert list(repeated.values()) == [2], "exactly the digest in flight goes twice"
    (team,) = repeated
    first, again = (m for m in messages if team in m.recipients)
    gap = again.accepted_at - first.accepted_at
    print(
        f"PostgreSQL away {outage:.1f}s from a send in flight; mark window "
        f"{lease - DELIVERY_CLOCK_ALLOWANCE_SECONDS}s after the renewal; the digest in "
        f"flight was sent again {gap:.1f}s later; digests received twice: {repeated}"
    )
    assert first.message_id == again.message_id, "the repeat is recognisable as one"
    # Not before its lease ran out (renewed at most one send before it was accepted).
    assert gap >= lease - SEND_SECONDS, gap
    assert "giving up before the lease ends" in full_log(worker), worker.log()


def test_a_trickling_mail_server_frees_the_worker_at_the_deadline(private_pg, rig):
    send_total = 2
    url = fresh_database(private_pg, "nhi_faults_trickle")
    trickle = TricklingSmtp(greet=True, interval=1.0)
    trickle.start()
    try:
        rig.redis.start()
        env = {
            **process_env(
                broker_port=rig.redis.port, smtp_port=trickle.port, var_dir=rig.directory / "var"
            ),
            "DATABASE_URL": url,
            "NHI_SWEEP_EVERY_SECONDS": "1",  # a task waiting behind the delivery
        }
        assert env["NHI_SMTP_TOTAL_SECONDS"] == str(send_total)
        assert run_python(["-c", SEED, "1"], env).strip() == "1"
        worker = start_worker(rig, "trickle", env)

        def failed_at_the_deadline() -> bool:
            worker.require_alive()
            with psycopg.connect(url, connect_timeout=2) as conn:
                row = conn.execute("SELECT status, last_error FROM registry_notification")
                return row.fetchone() == ("pending", f"SMTP: no answer within {send_total} s")

        wait_until(failed_at_the_deadline, what="the digest to fail", context=worker.log)
        wait_until(
            lambda: sweeps_after_delivery(worker.log_path) > 0,
            what="a sweep to run after the delivery",
            context=worker.log,
        )
    finally:
        trickle.stop()

    assert trickle.accepted >= 1
    took = delivery_seconds(worker.log_path)
    print(f"delivery to the trickling server ended after {took:.2f}s (deadline {send_total}s)")
    # Without the total deadline it never ends (every byte arrives within EMAIL_TIMEOUT).
    assert send_total <= took < send_total + 3, took


_DELIVERED = re.compile(
    r"Task registry\.deliver\[[^\]]+\] succeeded in ([0-9.]+)s: \{[^}]*retrying"
)


_SWEPT = re.compile(r"Task registry\.sweep\[[^\]]+\] succeeded")


def delivery_seconds(log: Path) -> float:
    found = _DELIVERED.search(log.read_text(errors="replace"))
    assert found, "no delivery run that met the trickling server"
    return float(found.group(1))


def sweeps_after_delivery(log: Path) -> int:
    text = log.read_text(errors="replace")
    found = _DELIVERED.search(text)
    if not found:
        return 0
    return len(_SWEPT.findall(text, found.end()))
