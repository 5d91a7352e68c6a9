"""Four `manage.py sweep` processes at once over 5,000 due paths, 300 past their expiry
(some with a transfer waiting) and 300 unowned (PostgreSQL only).

The sweep claims escalations and expiries in batches with SELECT … FOR UPDATE SKIP
LOCKED and writes each batch set-based; reminders skip what is already queued and rely on
the outbox's unique key against a concurrent run. Run concurrently in separate
processes (separate connections, real clocks), together they must queue exactly what
one sweep would: every expected notification once, none twice, each escalated path
advanced once with one audit event, an intact audit chain, and a later sweep with
nothing left to do.

`manage.py sweep` reads the real clock, so the data is laid out around
`timezone.now()`, every due date at least an hour from any threshold (reminder offsets,
ladder stages), so that the moment each process reads its clock cannot change the
outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from registry.audit import verify_chain
from registry.models import AccessPath, AuditEvent, Notification, Transfer
from registry.rules.policies import current_policy
from tests.conftest import JUSTIFICATION, TICKET

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PATHS = 5_000
SWEEPERS = 4
TIMEOUT_SECONDS = 600
MARGIN = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

# (label, count, due date relative to now: [earliest, latest]); each range keeps MARGIN
# from the thresholds of the default policy (reminders 14/7/1 days before, ladder 0/3/7/14
# days after), which the test checks against the policy before using it.
LAYOUT = [
    ("reminder_14", 300, (7 * DAY + MARGIN, 14 * DAY - MARGIN)),
    ("reminder_7", 300, (DAY + MARGIN, 7 * DAY - MARGIN)),
    ("reminder_1", 300, (MARGIN, DAY - MARGIN)),
    ("stage_1", 1_000, (-3 * DAY + MARGIN, -MARGIN)),
    ("stage_2", 1_000, (-7 * DAY + MARGIN, -3 * DAY - MARGIN)),
    ("stage_3", 1_000, (-14 * DAY + MARGIN, -7 * DAY - MARGIN)),
    ("stage_4", 1_100, (-60 * DAY, -14 * DAY - MARGIN)),
]
QUEUED_KEYS = ("notifications_queued", "reminders_queued", "events_queued")
# Owned paths past their expiry (a day to a month ago), every third with a transfer to
# the data team waiting; unowned paths stewarded by platform, unowned for two days.
EXPIRING = 300
UNOWNED = 300


def database_url() -> str:
    """The test database (NAME is the test DB's) as a DATABASE_URL for a subprocess."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


def start_sweep() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
    }
    # A fixed argument list, no shell: the interpreter running the tests and manage.py.
    return subprocess.Popen(
        [sys.executable, "manage.py", "sweep"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, deadline: float) -> dict:
    try:
        out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"sweep {process.pid} did not finish in time (deadlock?)\n{err[-4000:]}")
    assert process.returncode == 0, f"sweep {process.pid} exited {process.returncode}\n{err}"
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, f"sweep {process.pid} printed nothing\n{err}"
    return json.loads(lines[-1])


def run_sweeps(count: int) -> list[dict]:
    processes = [start_sweep() for _ in range(count)]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        return [finish(process, deadline) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def lay_out_paths(payments, now: dt.datetime) -> dict[str, str]:
    """Bulk-insert the due paths; return each path's intended group by id."""
    rng = random.Random(20261122)
    now = now.replace(microsecond=0)
    paths, groups = [], {}
    for label, count, (earliest, latest) in LAYOUT:
        span = int((latest - earliest).total_seconds())
        for _ in range(count):
            due = now + earliest + dt.timedelta(seconds=rng.randint(0, span))
            index = len(paths)
            path = AccessPath(
                name=f"sweep-load-{index:05d}",
                kind=AccessPath.Kind.SERVICE_ACCOUNT,
                system="aws",
                external_id=f"sweep-load-{index:05d}",
                environment=AccessPath.Environment.PROD,
                owner_team=payments,
                justification=JUSTIFICATION,
                ticket_url=TICKET,
                risk_tier=AccessPath.RiskTier.HIGH,
                expires_at=now + 400 * DAY,
                review_interval_days=90,
                last_attested_at=due - 90 * DAY,
                next_review_at=due,
                state=AccessPath.State.ACTIVE,
                state_changed_at=now - 200 * DAY,
                created_at=now - 200 * DAY,
                updated_at=now - 200 * DAY,
            )
            paths.append(path)
            groups[str(path.pk)] = label
    AccessPath.objects.bulk_create(paths, batch_size=1_000)
    return groups


def lay_out_expiring_and_unowned(teams, now: dt.datetime) -> dict[str, str]:
    """The bulk expiry's and the unowned notices' share of the estate."""
    now = now.replace(microsecond=0)
    paths, groups, transfers = [], {}, []
    common = {
        "kind": AccessPath.Kind.SERVICE_ACCOUNT, "system": "gcp",
        "environment": AccessPath.Environment.PROD, "risk_tier": AccessPath.RiskTier.LOW,
        "review_interval_days": 365, "created_at": now - 200 * DAY,
        "updated_at": now - 200 * DAY,
    }  # fmt: skip
    for index in range(EXPIRING):
        path = AccessPath(
            name=f"sweep-expiring-{index:05d}", external_id=f"sweep-expiring-{index:05d}",
            owner_team=teams.payments, justification=JUSTIFICATION, ticket_url=TICKET,
            expires_at=now - DAY - index * dt.timedelta(hours=2),
            next_review_at=now + 100 * DAY, state=AccessPath.State.ACTIVE,
            state_changed_at=now - 200 * DAY, **common,
        )  # fmt: skip
        paths.append(path)
        groups[str(path.pk)] = "expiring"
        if index % 3 == 0:
            transfers.append(
                Transfer(
                    path=path,
                    from_team=teams.payments,
                    to_team=teams.data,
                    requested_by_label="lee",
                    reason="The data team now runs the export.",
                    created_at=now - HOUR,
                )
            )
    for index in range(UNOWNED):
        path = AccessPath(
            name=f"sweep-unowned-{index:05d}", external_id=f"sweep-unowned-{index:05d}",
            steward_team=teams.platform, state=AccessPath.State.UNOWNED,
            state_changed_at=now - 2 * DAY, **common,
        )  # fmt: skip
        paths.append(path)
        groups[str(path.pk)] = "unowned"
    AccessPath.objects.bulk_create(paths, batch_size=1_000)
    Transfer.objects.bulk_create(transfers)
    return groups


def expected_notifications(policy, now, paths, teams, groups) -> tuple[set[tuple], dict[str, int]]:
    """What one sweep at `now` queues for these paths, and each path's ladder stage."""
    payments, security = teams.payments.pk, teams.security.pk
    expected: set[tuple] = set()
    stages: dict[str, int] = {}
    for path_id, due, expires, since in paths:
        key = str(path_id)
        if groups[key] == "expiring":
            expected.add((payments, "members", "email", key, "expired", expires, 0))
            stages[key] = 0
            continue
        if groups[key] == "unowned":
            expected.add((security, "members", "email", key, "unowned", since, 0))
            expected.add((teams.platform.pk, "members", "email", key, "unowned", since, 0))
            stages[key] = 0
            continue
        if due > now:
            offset = policy.reminder_offset_for(due - now)
            expected.add((payments, "members", "email", key, "review_reminder", due, offset))
            stages[key] = 0
            continue
        stage = policy.escalation_stage_for(now - due)
        stages[key] = stage
        if stage == 1:
            expected.add((payments, "members", "email", key, "review_overdue", due, 1))
        elif stage == 2:
            expected.add((payments, "leads", "email", key, "review_overdue", due, 2))
        elif stage == 3:
            expected.add((security, "members", "email", key, "review_overdue", due, 3))
        else:
            expected.add((security, "members", "email", key, "lapsed", due, 4))
            expected.add((payments, "members", "email", key, "lapsed", due, 4))
    return expected, stages


def test_four_concurrent_sweep_processes_queue_everything_exactly_once(personas):
    policy = current_policy()
    # The layout's margins are drawn for the default ladder and reminder offsets.
    assert policy.escalation_days == (0, 3, 7, 14)
    assert policy.reminder_offsets_days == (14, 7, 1)
    teams = personas.teams
    assert teams.payments.email and teams.security.email  # email only: no chat, no events
    setup_now = timezone.now()
    groups = lay_out_paths(teams.payments, setup_now)
    assert len(groups) == PATHS
    groups |= lay_out_expiring_and_unowned(teams, setup_now)
    assert teams.platform.email and not teams.platform.slack_webhook_url
    audit_before = AuditEvent.objects.count()

    started = time.monotonic()
    summaries = run_sweeps(SWEEPERS)
    wall = time.monotonic() - started
    print(f"\n{SWEEPERS} concurrent sweeps over {PATHS} paths: {wall:.2f}s wall time")
    for summary in summaries:
        print(f"  {json.dumps(summary, sort_keys=True)}")
    now = timezone.now()
    assert now - setup_now < MARGIN, "the run took longer than the layout's margin"

    paths = list(
        AccessPath.objects.values_list("id", "next_review_at", "expires_at", "state_changed_at")
    )
    # Unowned paths' notices name when they became unowned (the sweep leaves that alone);
    # expired ones' name their expiry.
    expected, stages = expected_notifications(policy, now, paths, teams, groups)
    # The margins hold: every path is in the group it was laid out for.
    for path_id, stage in stages.items():
        label = groups[path_id]
        if label.startswith("stage_"):
            assert stage == int(label.removeprefix("stage_")), (path_id, label)
        else:
            assert stage == 0, (path_id, label)
    for path_id, due, *_ in paths:
        if groups[str(path_id)].startswith("reminder_"):
            offset = int(groups[str(path_id)].removeprefix("reminder_"))
            assert policy.reminder_offset_for(due - now) == offset

    # (a) no duplicates, (b) none missing and nothing extra.
    duplicates = (
        Notification.objects.values(
            "team", "audience", "channel", "path", "reason", "cycle", "stage"
        )
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []
    actual = [
        (team, audience, channel, str(path), reason, cycle, stage)
        for team, audience, channel, path, reason, cycle, stage in Notification.objects.values_list(
            "team_id", "audience", "channel", "path_id", "reason", "cycle", "stage"
        )
    ]
    assert len(actual) == len(set(actual)) == len(expected)
    missing, extra = expected - set(actual), set(actual) - expected
    assert not missing, f"{len(missing)} missing, e.g. {sorted(missing, key=str)[:3]}"
    assert not extra, f"{len(extra)} unexpected, e.g. {sorted(extra, key=str)[:3]}"
    assert set(Notification.objects.values_list("status", flat=True)) == {"pending"}

    # The processes' own counts add up: each row and each escalation counted once.
    totals = Counter()
    for summary in summaries:
        totals.update({k: v for k, v in summary.items() if k != "dry_run"})
    stage_counts = Counter(stages.values())
    reminders = sum(1 for group in groups.values() if group.startswith("reminder_"))
    assert totals["reminders_queued"] == reminders
    assert totals["notifications_queued"] == len(expected) - reminders
    assert totals["expired"] == EXPIRING
    assert totals["events_queued"] == 0  # payments has no event webhook
    for stage in (1, 2, 3, 4):
        assert totals[f"escalated_to_stage_{stage}"] == stage_counts[stage]
    assert totals["lapsed"] == stage_counts[4]

    escalation_stages = dict(AccessPath.objects.values_list("id", "escalation_stage"))
    assert {str(k): v for k, v in escalation_stages.items()} == stages

    # (c) a fifth sweep afterwards has nothing left to do.
    (fifth,) = run_sweeps(1)
    print(f"  fifth sweep: {json.dumps(fifth, sort_keys=True)}")
    assert all(fifth.get(key, 0) == 0 for key in QUEUED_KEYS), fifth
    assert not [k for k, v in fifth.items() if k.startswith("escalated") and v], fifth
    assert fifth.get("lapsed", 0) == fifth.get("expired", 0) == 0, fifth
    assert Notification.objects.count() == len(expected)

    # (d) the audit chain is intact, with one escalation event per escalated path.
    report = verify_chain()
    assert report.intact, report.problem
    escalations = list(
        AuditEvent.objects.filter(action__in=["access_path.escalated", "access_path.lapsed"])
        .values("path_id")
        .annotate(n=Count("seq"))
    )
    escalated = {str(row["path_id"]) for row in escalations}
    assert escalated == {path_id for path_id, stage in stages.items() if stage}
    assert {row["n"] for row in escalations} == {1}
    # Each expired path: its event, and one for the transfer its expiry declined.
    expiring = [path_id for path_id, group in groups.items() if group == "expiring"]
    assert set(AccessPath.objects.filter(pk__in=expiring).values_list("state", flat=True)) == {
        AccessPath.State.EXPIRED
    }
    declined = Transfer.objects.filter(status=Transfer.Status.DECLINED).count()
    assert declined == Transfer.objects.count() == len(range(0, EXPIRING, 3))
    expired_events = AuditEvent.objects.filter(action="access_path.expired")
    assert sorted(str(p) for p in expired_events.values_list("path_id", flat=True)) == sorted(
        expiring
    )
    assert AuditEvent.objects.filter(action="transfer.declined").count() == declined
    assert AuditEvent.objects.count() == audit_before + len(escalated) + EXPIRING + declined
    lapsed_events = AuditEvent.objects.filter(action="access_path.lapsed").count()
    assert lapsed_events == stage_counts[4]
