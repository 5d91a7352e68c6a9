"""The delivery pipeline as real processes: Celery worker + embedded beat on a private
Redis, a loopback SMTP server, and the test database shared over PostgreSQL.

These check the promises of DESIGN.md "Review, reminders and escalation" that only
show with real processes: a worker killed mid-delivery loses nothing (its leased rows
come due again when the lease runs out; delivery is at-least-once, so a digest may
arrive twice but is never marked sent unless the channel accepted it), and a web write
succeeds while the broker is down (the outbox keeps the rows and the periodic delivery
catches up once the broker is back).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from registry import services
from registry.models import Claim, Notification, Team
from registry.notifications.outbox import Audience, Notice, queue
from registry.notifications.wording import describe
from tests.conftest import path_data
from tests.processes.helpers import Rig
from tests.support_processes import (
    ROOT,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

Status = Notification.Status
TEAM_COUNT = 30
SMTP_DELAY_SECONDS = 0.4  # per message, so the kill lands while a run is mid-batch
KILL_AFTER_MESSAGES = 5
CLAIM_REASON = "Our nightly payout batch runs under this account."


@pytest.fixture
def rig(request, tmp_path, transactional_db):
    # Depends on transactional_db so that every process is gone before the database is
    # flushed after the test.
    failed_before = request.session.testsfailed
    processes = Rig(tmp_path)
    yield processes
    try:
        if request.session.testsfailed > failed_before:
            print(processes.logs())  # shown under "Captured stdout teardown"
    finally:
        processes.close()


def _statuses(rows) -> Counter:
    return Counter(rows.values_list("status", flat=True))


def test_worker_killed_mid_delivery_loses_nothing(rig, personas, settings):
    settings.NHI_DELIVERY_COALESCE_SECONDS = 0  # queued here, due at once
    now = timezone.now()
    teams = [
        services.team_create(
            actor=personas.system,
            data={
                "slug": f"team-{i}",
                "name": f"Team {i}",
                "kind": Team.Kind.PRODUCT,
                "email": f"team-{i}@example.com",
            },
            now=now,
        )
        for i in range(1, TEAM_COUNT + 1)
    ]
    paths = [
        services.path_register(
            actor=personas.system,
            data=path_data(owner_team=team, name=f"job-{team.slug}", external_id=team.slug),
            now=now,
        )
        for team in teams
    ]
    due = now + dt.timedelta(days=7)
    with transaction.atomic():
        queued = queue(
            [
                Notice(
                    team_id=team.pk,
                    audience=Audience.MEMBERS,
                    path_id=path.pk,
                    reason="review_reminder",
                    cycle=due,
                    stage=7,
                    payload={"due_at": due.isoformat()},
                )
                for team, path in zip(teams, paths, strict=True)
            ],
            teams={team.pk: team for team in teams},
            now=now,
        )
    assert queued == TEAM_COUNT  # one email row per team: one digest each
    ours = Notification.objects.filter(team__in=teams)
    email_of = {team.pk: team.email for team in teams}

    smtp = rig.start_smtp(delay=SMTP_DELAY_SECONDS)
    rig.redis.start()
    first = rig.start_worker("first")

    def some_but_not_all_delivered() -> bool:
        first.require_alive()
        return smtp.handler.count() >= KILL_AFTER_MESSAGES

    wait_until(
        some_but_not_all_delivered,
        what=f"the first worker to deliver {KILL_AFTER_MESSAGES} digests",
        context=first.log,
    )
    first.kill()  # SIGKILL to the whole group: worker and its embedded beat

    received = smtp.handler.recipients()
    assert len(received) < TEAM_COUNT, (
        "the first worker delivered every digest before it was killed, so the kill "
        "interrupted nothing; slow the SMTP sink or kill sooner"
    )
    after_kill = {row.pk: row for row in ours}
    sent_unaccepted = sorted(
        (email_of[row.team_id], row.pk)
        for row in after_kill.values()
        if row.status == Status.SENT and email_of[row.team_id] not in received
    )
    assert sent_unaccepted == [], "marked sent without the SMTP server having accepted it"
    statuses = Counter(row.status for row in after_kill.values())
    assert set(statuses) <= {Status.SENT, Status.PENDING}, statuses
    assert statuses[Status.PENDING] > 0, f"the kill left nothing to recover: {statuses}"

    second = rig.start_worker("second")

    def everything_sent() -> bool:
        second.require_alive()
        return not Notification.objects.exclude(status=Status.SENT).exists()

    wait_until(
        everything_sent,
        what="the second worker to send every notification",
        context=lambda: f"statuses: {_statuses(Notification.objects.all())}\n{second.log()}",
    )

    assert not Notification.objects.filter(status=Status.DEAD).exists()
    per_recipient = Counter(r for m in smtp.handler.messages for r in m.recipients)
    missing = sorted(set(email_of.values()) - set(per_recipient))
    assert missing == [], "teams whose digest never arrived"
    # Delivery is at-least-once: a digest in flight when the worker died may have been
    # accepted by the server but not yet marked sent, and is then sent again. Only that
    # one can repeat, and only once.
    duplicates = {r: n for r, n in per_recipient.items() if n > 1}
    print(f"digests received twice (at-least-once delivery): {duplicates or 'none'}")
    assert all(n <= 2 for n in per_recipient.values()), per_recipient


WEB_WRITE = """
import sys

import django

django.setup()

from django.contrib.auth import get_user_model

from registry import services
from registry.rules.actors import Actor
from registry.runtime.request_id import request_context
from registry.models import AccessPath, Team

pat = get_user_model().objects.get(username="pat")
with request_context():
    claim = services.path_claim(
        actor=Actor.for_user(pat),
        path=AccessPath.objects.get(pk=sys.argv[1]),
        team=Team.objects.get(slug="payments"),
        reason=sys.argv[2],
    )
print(claim.pk)
"""


def test_broker_down_web_writes_succeed_and_delivery_catches_up(rig, personas, unowned_path):
    smtp = rig.start_smtp()
    rig.redis.start()
    rig.redis.stop()  # SHUTDOWN NOSAVE: the broker is down, its port known and free

    started = time.monotonic()
    try:
        # Trusted argv: this interpreter running our fixed script (no shell).
        web = subprocess.run(  # noqa: S603
            [sys.executable, "-c", WEB_WRITE, str(unowned_path.pk), CLAIM_REASON],
            cwd=ROOT,
            env=rig.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"a web write hung on the unreachable broker instead of failing fast:\n"
            f"{exc.stdout}\n{exc.stderr}"
        )
    print(f"web write with the broker down finished in {time.monotonic() - started:.1f}s")
    assert web.returncode == 0, f"the web write failed:\n{web.stdout}\n{web.stderr}"
    assert "broker unavailable, delivery will catch up on schedule" in web.stderr, web.stderr

    claim = Claim.objects.get(path=unowned_path, team=personas.teams.payments)
    assert claim.status == Claim.Status.PENDING
    assert str(claim.pk) == web.stdout.strip()
    notification = Notification.objects.get(
        path=unowned_path, reason="claim_requested", team=personas.teams.security
    )
    assert notification.status == Status.PENDING

    rig.redis.start()  # back on the same port
    worker = rig.start_worker("catch-up")

    def notification_sent() -> bool:
        worker.require_alive()
        notification.refresh_from_db()
        return notification.status == Status.SENT

    wait_until(
        notification_sent,
        what="the pending claim notification to be delivered once the broker is back",
        context=worker.log,
    )
    claimed = describe("claim_requested", 0, notification.payload)
    to_security = [
        m for m in smtp.handler.messages if m.recipients == (personas.teams.security.email,)
    ]
    assert any(claimed in m.body and unowned_path.name in m.body for m in to_security), (
        smtp.handler.messages
    )
    assert not Notification.objects.filter(status=Status.DEAD).exists()
