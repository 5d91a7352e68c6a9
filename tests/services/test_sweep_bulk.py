"""The set-based sweep (issue 15): bulk escalation and expiry with the per-path
service's exact effects, reminders that skip what was already queued, and a query count
that follows the number of batches, never the number of paths."""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, AuditEvent, Claim, Notification, Team, Transfer
from registry.rules import status
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.services import _common
from registry.services.sweep import reminder_bands, sweep, unowned_bands
from tests.conftest import JUSTIFICATION, NOW, TICKET

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_serial = itertools.count()


# --- the bands the reminder queries use agree with the row rules ----------------------


def test_reminder_bands_give_the_stage_reminder_offset_for_gives():
    policy = current_policy()
    run = SimpleNamespace(now=NOW, policy=policy)
    bands = reminder_bands(run, "next_review_at", Notification.Reason.REVIEW_REMINDER)
    window = dt.timedelta(days=max(policy.reminder_offsets_days))
    step = dt.timedelta(minutes=37)
    when = NOW + step
    while when <= NOW + window:
        path = SimpleNamespace(next_review_at=when)
        hits = [b for b in bands if _band_holds(b, path)]
        assert [b.stage for b in hits] == [policy.reminder_offset_for(when - NOW)], when
        when += step
    # The boundaries themselves (a date exactly d days away gets the d-day reminder).
    for days in policy.reminder_offsets_days:
        path = SimpleNamespace(next_review_at=NOW + dt.timedelta(days=days))
        assert [b.stage for b in bands if _band_holds(b, path)] == [days]


def test_unowned_bands_give_what_unowned_notice_gives():
    policy = current_policy()
    run = SimpleNamespace(now=NOW, policy=policy)
    bands = unowned_bands(run)
    line = NOW - dt.timedelta(days=policy.unclaimed_escalation_days)
    for since in (line - DAY, line - HOUR, line, line + HOUR, NOW - HOUR, NOW):
        path = SimpleNamespace(state_changed_at=since)
        hits = [(b.reason, b.stage) for b in bands if _band_holds(b, path)]
        assert hits == [status.unowned_notice(since, NOW, policy)], since


def _band_holds(band, row) -> bool:
    """Evaluate a band's simple range Q (field__gt / field__lte pairs) on a row."""
    for child in band.q.children:
        lookup, value = child
        name, op = lookup.rsplit("__", 1)
        have = getattr(row, name)
        if (op == "gt" and not have > value) or (op == "lte" and not have <= value):
            return False
    return True


# --- bulk expiry: exactly what path_expire does ---------------------------------------


def test_bulk_expiry_has_the_per_path_services_effects(personas, make_path):
    teams = personas.teams
    expires = NOW + 10 * DAY
    unowned = make_path(
        owner_team=None, steward_team=teams.platform, justification="", ticket_url="",
        expires_at=expires,
    )  # fmt: skip
    for team, actor in ((teams.payments, personas.pat), (teams.data, personas.dana)):
        services.path_claim(
            actor=actor, path=unowned, team=team,
            reason="Our nightly payout batch runs under this account.", now=NOW,
        )  # fmt: skip
    owned = make_path(expires_at=expires)
    services.path_transfer(
        actor=personas.lee, path=owned, to_team=teams.data,
        reason="The data team now runs the export.", now=NOW,
    )  # fmt: skip
    before = {p.pk: p for p in AccessPath.objects.filter(pk__in=[unowned.pk, owned.pk])}
    at = expires + HOUR
    summary = sweep(now=at)
    assert summary["expired"] == 2

    for path in (unowned, owned):
        path.refresh_from_db()
        old = before[path.pk]
        assert path.state == AccessPath.State.EXPIRED
        assert path.state_changed_at == at and path.updated_at == at
        assert path.version == old.version + 1
        events = list(
            AuditEvent.objects.filter(path=path, created_at=at)
            .order_by("seq")
            .values_list("action", "changes", "reason")
        )
        expired = (
            "access_path.expired",
            {
                "state": [old.state, "expired"],
                "state_changed_at": [old.state_changed_at.isoformat(), at.isoformat()],
            },
            f"Expiry {expires.isoformat()} reached.",
        )
        closed = []
        if path.pk == unowned.pk:
            claims = Claim.objects.filter(path=path).order_by("-created_at", "-id")
            assert {c.status for c in claims} == {Claim.Status.REJECTED}
            assert {(c.decided_at, c.decision_reason) for c in claims} == {
                (at, "The path expired.")
            }
            closed = [
                ("claim.rejected", {"status": ["pending", "rejected"]}, "The path expired.")
            ] * 2
        else:
            (transfer,) = Transfer.objects.filter(path=path)
            assert (transfer.status, transfer.decided_at) == (Transfer.Status.DECLINED, at)
            closed = [
                ("transfer.declined", {"status": ["pending", "declined"]}, "The path expired.")
            ]
        assert events == [*closed, expired]
    # Claims' events name each claim, newest first (as the per-path service read them).
    claim_events = AuditEvent.objects.filter(path=unowned, action="claim.rejected")
    newest_first = Claim.objects.filter(path=unowned).order_by("-created_at", "-id")
    assert list(claim_events.order_by("seq").values_list("object_id", flat=True)) == [
        str(c.pk) for c in newest_first
    ]
    assert sorted(
        Notification.objects.filter(reason="expired").values_list("team__slug", "path_id")
    ) == sorted([("payments", owned.pk), ("platform", unowned.pk)])
    assert verify_chain().intact
    assert sweep(now=at + DAY).get("expired", 0) == 0


def test_path_expire_and_the_sweep_write_the_same_events(personas, make_path):
    """The service for one path and the sweep's batch share one home (services/expiry.py)."""
    expires = NOW + 5 * DAY
    one, other = make_path(expires_at=expires), make_path(expires_at=expires)
    at = expires + HOUR
    services.path_expire(actor=Actor.system("sweep"), path=one, now=at)
    sweep(now=at)

    def trail(path):
        return list(
            AuditEvent.objects.filter(path=path, created_at=at)
            .order_by("seq")
            .values_list("action", "changes", "reason", "actor_type", "actor_label")
        )

    assert trail(one) == trail(other)
    one.refresh_from_db()
    other.refresh_from_db()
    fields = ("state", "state_changed_at", "version", "updated_at")
    assert [getattr(one, f) for f in fields] == [getattr(other, f) for f in fields]


# --- reminders: what is already queued is not queued again ----------------------------


def test_a_run_with_nothing_new_writes_nothing_to_the_outbox(personas, make_path):
    paths = [make_path() for _ in range(3)]
    make_path(owner_team=None, steward_team=personas.teams.platform, justification="",
              ticket_url="")  # fmt: skip
    at = paths[0].next_review_at - 5 * DAY
    first = sweep(now=at)
    assert first["reminders_queued"] == 3 and first["notifications_queued"] == 2
    with CaptureQueriesContext(connection) as again:
        summary = sweep(now=at + HOUR)
    assert summary.get("reminders_queued", 0) == summary.get("notifications_queued", 0) == 0
    table = Notification._meta.db_table
    inserts = [q["sql"] for q in again.captured_queries if f'INSERT INTO "{table}"' in q["sql"]]
    assert inserts == []
    # A path newly due is queued alone.
    late = make_path(now=NOW + DAY)
    summary = sweep(now=late.next_review_at - 6 * DAY)
    assert summary["reminders_queued"] == 1  # its 7-day notice; the others had theirs


# --- query counts: per batch, never per path ------------------------------------------


def _lay_out(teams: SimpleNamespace, now: dt.datetime, per_kind: int) -> None:
    """`per_kind` paths of each kind the sweep acts on, written directly."""
    gone = Team.objects.create(
        slug=f"gone-{next(_serial)}", name="Gone", kind=Team.Kind.PRODUCT,
        email="gone@example.com", is_active=False, created_at=now, updated_at=now,
    )  # fmt: skip
    far = now + 300 * DAY
    kinds = [
        # (owner, next review, expiry, state, state changed)
        (teams.payments, now + 5 * DAY, far, "active", now - 100 * DAY),  # review reminder
        (teams.payments, now - HOUR, far, "active", now - 100 * DAY),  # ladder stage 1
        (teams.payments, now - 4 * DAY, far, "active", now - 100 * DAY),  # stage 2
        (teams.payments, now - 8 * DAY, far, "active", now - 100 * DAY),  # stage 3
        (teams.payments, now - 20 * DAY, far, "active", now - 100 * DAY),  # lapsed
        (teams.payments, now + 60 * DAY, now - HOUR, "active", now - 100 * DAY),  # expiry
        (teams.payments, now + 60 * DAY, now + 3 * DAY, "active", now - 100 * DAY),  # soon
        (gone, now + 60 * DAY, far, "active", now - 100 * DAY),  # offboarded
        (None, None, None, "unowned", now - DAY),  # unowned
        (None, None, None, "unowned", now - 10 * DAY),  # unclaimed
    ]
    paths = []
    for owner, review, expires, state, changed in kinds:
        for _ in range(per_kind):
            n = next(_serial)
            paths.append(
                AccessPath(
                    name=f"bulk-{n:05d}",
                    kind=AccessPath.Kind.SERVICE_ACCOUNT,
                    system="aws",
                    external_id=f"bulk-{n:05d}",
                    environment=AccessPath.Environment.PROD,
                    owner_team=owner,
                    steward_team=teams.platform,
                    justification=JUSTIFICATION if owner else "",
                    ticket_url=TICKET if owner else "",
                    risk_tier=AccessPath.RiskTier.LOW,
                    expires_at=expires,
                    review_interval_days=365,
                    next_review_at=review,
                    state=state,
                    state_changed_at=changed,
                    created_at=now - 100 * DAY,
                    updated_at=now - 100 * DAY,
                )
            )
    AccessPath.objects.bulk_create(paths)


def _count_queries(personas, monkeypatch, per_kind: int, now: dt.datetime) -> tuple[int, int]:
    _lay_out(personas.teams, now, per_kind)
    # One batch per kind (the ladder's four kinds: four), whatever per_kind is.
    monkeypatch.setattr(_common, "BATCH", per_kind)
    with CaptureQueriesContext(connection) as first:
        summary = sweep(now=now)
    assert summary["expired"] == per_kind
    assert summary["lapsed"] == 2 * per_kind  # the ladder's and the offboarded
    assert summary["reminders_queued"] == 2 * per_kind
    with CaptureQueriesContext(connection) as again:
        sweep(now=now + HOUR)
    return len(first.captured_queries), len(again.captured_queries)


def _retire_everything() -> None:
    """The estate laid out so far is revoked and confirmed disabled at its source:
    nothing about it is due any more."""
    AccessPath.objects.update(
        state=AccessPath.State.REVOKED, state_changed_at=NOW, source_disabled_at=NOW
    )


def test_query_count_follows_batches_not_paths(personas, monkeypatch):
    # A first sweep pays one-off costs (bookkeeping rows created on first use).
    _count_queries(personas, monkeypatch, 1, NOW)
    _retire_everything()
    small = _count_queries(personas, monkeypatch, 3, NOW + 400 * DAY)
    _retire_everything()
    # Ten times the paths, the same number of batches: the same queries.
    large = _count_queries(personas, monkeypatch, 30, NOW + 800 * DAY)
    assert large == small
