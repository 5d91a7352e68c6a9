"""Issuers and leases (issue 18, item 1): a pipeline's bulk batches folded into hourly
rollups, exactly, with no path and no reminder; duplicates counted once; a lease over
the issuer's maximum flagging posture; the retention purge."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from registry import services
from registry.models import (
    AccessPath,
    AuditEvent,
    JobTick,
    Lease,
    LeaseHour,
    Notification,
    PolicyException,
)
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotFound
from registry.rules.leases import MAX_RECORDED_BY, OTHERS, merged_recorded_by
from registry.rules.policies import Policy, current_policy
from registry.rules.posture import RULE_BY_CODE, path_violations, violation_q
from registry.selectors.tallies import tally_groups
from registry.services.leases import leases_purge, leases_record
from registry.services.sweep import sweep
from registry.services.tokens import token_create
from tests.conftest import NOW
from tests.support_leases import lease_items, make_issuer
from workers.tasks import leases_purge_task

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
RULE = PolicyException.Rule.NHI7_LEASE_OVER_MAX
RECORDED = "leases.recorded"


@pytest.fixture
def issuer(make_path, personas) -> AccessPath:
    return make_issuer(make_path(steward_team=personas.teams.platform), now=NOW)


def record(actor, issuer, items, *, now=NOW, policy: Policy | None = None):
    return leases_record(actor=actor, issuer=issuer, leases=items, now=now, policy=policy)


def test_ten_thousand_leases_in_two_batches_add_up_exactly_without_paths_or_notices(
    issuer, personas
):
    start = NOW - 3 * HOUR
    paths_before = AccessPath.objects.count()
    first = lease_items(5000, start=start, ttl=900)
    second = lease_items(5000, start=start + 5000 * dt.timedelta(seconds=1), ttl=120, offset=5000)
    second[-1]["subject"] = "ci:payments/release"

    one = record(personas.payments_ci, issuer, first)
    two = record(personas.pat, issuer, second, now=NOW + dt.timedelta(minutes=1))

    assert (one.recorded, one.duplicates, two.recorded, two.duplicates) == (5000, 0, 5000, 0)
    assert Lease.objects.filter(issuer=issuer).count() == 10_000
    rows = list(LeaseHour.objects.filter(issuer=issuer).order_by("hour"))
    assert sum(row.leases for row in rows) == 10_000
    assert sum(row.total_seconds for row in rows) == 5000 * 900 + 5000 * 120
    assert sum(sum(row.buckets.values()) for row in rows) == 10_000
    assert sum(row.buckets.get("900", 0) for row in rows) == 5000
    assert sum(row.buckets.get("300", 0) for row in rows) == 5000
    # 10,000 seconds from start: 10:00 through 11:46, three hours.
    assert [row.hour for row in rows] == [start, start + HOUR, start + 2 * HOUR]
    last = rows[-1]
    assert last.last_subject == "ci:payments/release"
    assert last.last_issued_at == start + dt.timedelta(seconds=9999)
    every_label = {}
    for row in rows:
        for label, count in row.recorded_by.items():
            every_label[label] = every_label.get(label, 0) + count
    assert every_label == {personas.payments_ci.label: 5000, "pat": 5000}

    assert AccessPath.objects.count() == paths_before
    events = AuditEvent.objects.filter(action=RECORDED, object_id=str(issuer.pk))
    assert events.count() == 2
    assert sorted(event.changes["recorded"][1] for event in events) == [5000, 5000]
    sweep(now=NOW + 2 * DAY, ignore_clock=True)
    sweep(now=NOW + 20 * DAY, ignore_clock=True)
    assert not Notification.objects.filter(path=issuer).exists()
    assert AccessPath.objects.count() == paths_before


def test_a_retried_batch_is_counted_once(issuer, personas):
    items = lease_items(300, start=NOW - HOUR)
    record(personas.payments_ci, issuer, items)
    again = record(
        personas.payments_ci, issuer, [*items[:100], *lease_items(50, start=NOW - HOUR, offset=300)]
    )
    assert (again.recorded, again.duplicates) == (50, 100)
    assert Lease.objects.filter(issuer=issuer).count() == 350
    assert sum(LeaseHour.objects.filter(issuer=issuer).values_list("leases", flat=True)) == 350
    # Twice the same lease_ref in one batch is one lease; leases without a ref are each new.
    twice = lease_items(1, start=NOW - HOUR, offset=999) * 2
    unnamed = [{**item, "lease_ref": ""} for item in lease_items(3, start=NOW - HOUR)]
    batch = record(personas.payments_ci, issuer, [*twice, *unnamed])
    assert (batch.recorded, batch.duplicates) == (4, 1)
    assert sum(LeaseHour.objects.filter(issuer=issuer).values_list("leases", flat=True)) == 354
    event = AuditEvent.objects.filter(action=RECORDED).order_by("-seq").first()
    assert event.changes["duplicates"] == [None, 1]


def test_a_lease_over_the_maximum_flags_the_issuer_in_posture_and_the_tally(issuer, personas):
    policy = current_policy()
    flagged = AccessPath.objects.filter(violation_q(RULE, now=NOW, policy=policy))
    assert not flagged.exists()
    items = lease_items(10, start=NOW - HOUR, ttl=1800)
    items[3]["ttl_seconds"] = issuer.max_lease_seconds + 1
    batch = record(personas.payments_ci, issuer, items)

    assert batch.over_max == 1
    fresh = AccessPath.objects.get(pk=issuer.pk)
    assert fresh.lease_overrun_at == NOW
    assert fresh.version == issuer.version + 1
    assert list(flagged) == [fresh]
    assert RULE_BY_CODE[RULE] in path_violations(fresh, now=NOW, policy=policy)
    groups = tally_groups(personas.sam, now=NOW, policy=policy)
    assert sum(group.get(f"r_{RULE}", 0) for group in groups) == 1
    event = AuditEvent.objects.get(action=RECORDED)
    assert event.changes["over_max"] == [None, 1]
    assert event.changes["lease_overrun_at"][1] == NOW.isoformat()
    # Past the policy's window the flag lifts on its own (the facts' valid-until).
    later = NOW + dt.timedelta(days=policy.lease_overrun_window_days, hours=1)
    assert not AccessPath.objects.filter(violation_q(RULE, now=later, policy=policy)).exists()
    groups = tally_groups(personas.sam, now=later, policy=policy)
    assert sum(group.get(f"r_{RULE}", 0) for group in groups) == 0


def test_leases_within_the_maximum_leave_the_issuer_unwritten(issuer, personas):
    record(personas.payments_ci, issuer, lease_items(10, start=NOW - HOUR, ttl=3600))
    fresh = AccessPath.objects.get(pk=issuer.pk)
    assert (fresh.version, fresh.lease_overrun_at) == (issuer.version, None)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds", errors.LEASE_TTL),
        ({"ttl_seconds": 90.5}, "ttl_seconds", errors.LEASE_TTL),
        ({"ttl_seconds": True}, "ttl_seconds", errors.LEASE_TTL),
        ({"ttl_seconds": "900"}, "ttl_seconds", errors.LEASE_TTL),
        ({"issued_at": "yesterday"}, "issued_at", errors.LEASE_ISSUED_AT),
        ({"issued_at": "2026-11-22T11:00:00"}, "issued_at", errors.LEASE_ISSUED_AT),
        ({"issued_at": "2026-13-22T11:00:00Z"}, "issued_at", errors.LEASE_ISSUED_AT),
        ({"issued_at": (NOW + HOUR).isoformat()}, "issued_at", errors.LEASE_ISSUED_IN_FUTURE),
        ({"issued_at": (NOW - 8 * DAY).isoformat()}, "issued_at", errors.LEASE_ISSUED_TOO_LONG_AGO),
        ({"subject": "x" * 201}, "subject", errors.LEASE_TEXT),
        ({"lease_ref": 12}, "lease_ref", errors.LEASE_TEXT),
        ({"colour": "blue"}, "colour", errors.LEASE_UNKNOWN_FIELD),
    ],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(issuer, personas, change, field, message):
    items = lease_items(50, start=NOW - HOUR)
    items[7] |= change
    with pytest.raises(Invalid) as refused:
        record(personas.payments_ci, issuer, items)
    name = f"leases[7].{field}"
    assert list(refused.value.errors) == [name]
    expected = message.format(
        length=200, limit=2**31 - 1, days=current_policy().lease_retention_days
    )
    assert refused.value.errors[name] == [expected]
    assert not Lease.objects.exists()
    assert not LeaseHour.objects.exists()
    assert not AuditEvent.objects.filter(action=RECORDED).exists()


def test_a_clock_a_little_ahead_is_accepted(issuer, personas):
    items = lease_items(1, start=NOW + dt.timedelta(minutes=4))
    assert record(personas.payments_ci, issuer, items).recorded == 1


@pytest.mark.parametrize(
    ("leases", "field", "message"),
    [
        ([], "leases", errors.LEASES_BATCH_SIZE),
        (None, "leases", errors.LEASES_BATCH_SIZE),
        ("leases", "leases", errors.LEASES_BATCH_SIZE),
        (["a lease"], "leases[0]", errors.LEASE_NOT_AN_OBJECT),
    ],
)
def test_a_batch_that_is_no_list_of_leases_is_refused(issuer, personas, leases, field, message):
    with pytest.raises(Invalid) as refused:
        record(personas.payments_ci, issuer, leases)
    assert refused.value.errors == {field: [message.format(limit=5000)]}


def test_a_batch_over_the_policys_size_is_refused(issuer, personas):
    policy = Policy(max_leases_per_request=10)
    with pytest.raises(Invalid) as refused:
        record(personas.payments_ci, issuer, lease_items(11, start=NOW - HOUR), policy=policy)
    assert refused.value.errors == {"leases": [errors.LEASES_BATCH_SIZE.format(limit=10)]}
    assert record(personas.payments_ci, issuer, lease_items(10, start=NOW - HOUR), policy=policy)


@pytest.mark.parametrize("field", ["lease_ref", "subject"])
def test_a_credential_in_a_lease_is_refused_and_never_stored(issuer, personas, field):
    credential = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # AWS's documented example key id
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    items = lease_items(20, start=NOW - HOUR)
    items[4][field] = f"vault:{secret}"
    items[5][field] = credential
    with pytest.raises(Invalid) as refused:
        record(personas.payments_ci, issuer, items)
    assert f"leases[4].{field}" in refused.value.errors
    message = refused.value.errors[f"leases[4].{field}"][0]
    assert message.startswith(errors.LOOKS_LIKE_SECRET.split("(")[0])
    assert secret not in str(refused.value.errors)
    assert not Lease.objects.exists()
    assert not AuditEvent.objects.filter(action=RECORDED).exists()


def test_other_teams_and_security_find_no_issuer(issuer, personas):
    items = lease_items(3, start=NOW - HOUR)
    for actor in (personas.dana, personas.otto, personas.sam):
        with pytest.raises(NotFound) as refused:
            record(actor, issuer, items)
        assert refused.value.message == errors.NOT_FOUND
    assert not Lease.objects.exists()


def test_the_steward_team_records_leases_too(issuer, personas):
    platform_ci = token_create(
        actor=personas.system, name="vault-audit", scopes=["write"], team=personas.teams.platform
    )[0]
    batch = record(Actor.for_token(platform_ci), issuer, lease_items(3, start=NOW - HOUR))
    assert batch.recorded == 3


def test_a_path_that_is_not_an_issuer_records_nothing(make_path, personas):
    path = make_path()
    with pytest.raises(InvalidTransition) as refused:
        record(personas.payments_ci, path, lease_items(3, start=NOW - HOUR))
    assert refused.value.message == errors.LEASES_NOT_AN_ISSUER
    assert not Lease.objects.exists()


def test_a_revoked_or_expired_issuer_records_nothing(issuer, personas):
    later = NOW + 400 * DAY
    with pytest.raises(InvalidTransition) as refused:
        record(personas.payments_ci, issuer, lease_items(3, start=later - HOUR), now=later)
    assert refused.value.message == errors.LEASES_ISSUER_NOT_ACTIVE.format(state="expired")
    services.path_revoke(actor=personas.lee, path=issuer, reason="The role was retired.", now=NOW)
    with pytest.raises(InvalidTransition) as refused:
        record(personas.payments_ci, issuer, lease_items(3, start=NOW - HOUR))
    assert refused.value.message == errors.LEASES_ISSUER_NOT_ACTIVE.format(state="revoked")
    assert not Lease.objects.exists()


def test_an_unowned_issuer_records_nothing(make_path, personas):
    path = make_path(
        owner_team=None, steward_team=personas.teams.platform, justification="", ticket_url=""
    )
    issuer = make_issuer(path, now=NOW)
    platform = token_create(
        actor=personas.system, name="vault", scopes=["write"], team=personas.teams.platform
    )[0]
    with pytest.raises(InvalidTransition) as refused:
        record(Actor.for_token(platform), issuer, lease_items(3, start=NOW - HOUR))
    assert refused.value.message == errors.LEASES_ISSUER_NOT_ACTIVE.format(state="unowned")


def test_a_five_thousand_lease_batch_takes_a_bounded_number_of_queries(
    issuer, personas, django_assert_max_num_queries
):
    # Spread over 30 hours: the rollup's statements do not grow with hours or leases.
    items = lease_items(5000, start=NOW - 30 * HOUR, spacing=dt.timedelta(seconds=21))
    items[0]["ttl_seconds"] = 7200
    with django_assert_max_num_queries(40):
        batch = record(personas.payments_ci, issuer, items)
    assert (batch.recorded, batch.over_max) == (5000, 1)
    assert LeaseHour.objects.filter(issuer=issuer).count() == 30


def test_who_recorded_keeps_twenty_labels_and_counts_the_rest_as_others():
    counts: dict[str, int] = {}
    for n in range(MAX_RECORDED_BY + 5):
        counts = merged_recorded_by(counts, f"token {n}", 2)
    counts = merged_recorded_by(counts, "token 3", 1)
    assert len(counts) == MAX_RECORDED_BY + 1
    assert counts[OTHERS] == 10
    assert counts["token 3"] == 3
    assert sum(counts.values()) == 2 * (MAX_RECORDED_BY + 5) + 1


def test_the_purge_deletes_only_old_raw_leases_and_keeps_the_rollups(issuer, personas):
    record(personas.payments_ci, issuer, lease_items(30, start=NOW - 2 * HOUR))
    later = NOW + 3 * DAY
    record(
        personas.payments_ci,
        issuer,
        lease_items(20, start=later - HOUR, offset=100),
        now=later,
    )
    rollups = list(LeaseHour.objects.values_list("hour", "leases").order_by("hour"))
    retention = current_policy().lease_retention_days

    assert leases_purge(now=NOW + dt.timedelta(days=retention) - HOUR) == 0
    assert leases_purge(now=NOW + dt.timedelta(days=retention, hours=1), batch=7) == 30
    purged = AuditEvent.objects.filter(action="leases.purged", object_id=str(issuer.pk))
    assert sorted(event.changes["purged"][1] for event in purged) == [2, 7, 7, 7, 7]
    assert Lease.objects.count() == 20
    assert set(Lease.objects.values_list("recorded_at", flat=True)) == {later}
    assert list(LeaseHour.objects.values_list("hour", "leases").order_by("hour")) == rollups
    assert leases_purge(now=later + dt.timedelta(days=retention, hours=1)) == 20
    assert not Lease.objects.exists()
    assert list(LeaseHour.objects.values_list("hour", "leases").order_by("hour")) == rollups


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_add_up_exactly(issuer, personas):
    start = NOW - 2 * HOUR
    batches = [
        lease_items(2000, start=start, offset=n * 2000, spacing=dt.timedelta(seconds=3))
        for n in range(3)
    ]
    barrier = threading.Barrier(len(batches), timeout=30)
    failures: list[BaseException] = []

    def run(items):
        try:
            connection.ensure_connection()
            barrier.wait()
            record(personas.payments_ci, issuer, items)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(items,), daemon=True) for items in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert failures == []
    rows = LeaseHour.objects.filter(issuer=issuer)
    assert sum(row.leases for row in rows) == 6000
    assert sum(row.total_seconds for row in rows) == 6000 * 900
    assert sum(row.recorded_by[personas.payments_ci.label] for row in rows) == 6000


def test_the_purge_runs_on_beat_and_records_its_tick(issuer, personas, settings):
    long_ago = timezone.now() - dt.timedelta(days=current_policy().lease_retention_days + 1)
    record(personas.payments_ci, issuer, lease_items(12, start=long_ago - HOUR), now=long_ago)
    assert leases_purge_task() == {"purged": 12}
    assert not Lease.objects.exists()
    assert LeaseHour.objects.get(issuer=issuer).leases == 12
    assert JobTick.objects.get(name="leases").last_succeeded_at is not None
    assert settings.CELERY_BEAT_SCHEDULE["leases"]["task"] == leases_purge_task.name
