"""The sweep: find what is due, remind, climb the escalation ladder, expire.

Set-based, so its cost follows the work due, not the estate (issue 15):
- state changes (escalation, lapse, expiry) claim a batch of rows with SELECT … FOR
  UPDATE SKIP LOCKED (services/_common.claimed_batches) and write the whole batch in a
  few statements: one UPDATE for the batch's new ladder stages, services/expiry.py's
  statements for expiries (the same effects as path_expire, which shares them), the
  dashboard's facts refreshed for the batch (services/tallies.refresh_facts), the
  batch's notices in one INSERT and its audit events in one append (one chain-head
  lock, the chain computed in one pass);
- reminders carry no state of their own: each is due while the outbox holds nothing for
  its (path, reason, cycle, stage). The queries leave out in SQL what was already queued
  (an anti-join on the outbox), stream what is left from one execution of the query (a
  server-side cursor: memory stays flat), and write it with INSERT … ON CONFLICT DO
  NOTHING, so a run with nothing new writes nothing and a concurrent one adds nothing
  twice;
- the number of queries depends on the number of batches, never on the rows in them
  (tests/services/test_sweep_bulk.py counts them).

Idempotent and safe on any number of concurrent workers: each claimed path is advanced
by exactly one worker and its notices queued in that worker's transaction; rows go in
id order and the audit append comes last in each batch, so concurrent sweeps never hold
locks in an order that could deadlock. The beat task still runs one at a time
(services/sweep_schedule.py: an advisory lock; a run that finds it taken says so).

Time it can trust: a live run (no `now` given) first compares this process's clock with
the database's (registry/runtime/clock.py) and, when they disagree by more than
NHI_MAX_CLOCK_SKEW_SECONDS, changes nothing, says so (an ERROR log line, the `sweep` row
of JobTick that health and metrics read, its summary) and tries again at its next run.
Everything time-driven runs inside the sweep (expiry, the ladder, reminders, the
incidents' ladder, the source-confirmation step), so the one check covers them all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.db.models import (
    Case,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from registry.audit import AuditEntry, audit_record_many
from registry.models import AccessPath, AuditEvent, Claim, Membership, Notification, Team, Transfer
from registry.notifications.events import EVENT_FIELDS, event_notices
from registry.notifications.outbox import Notice, queue
from registry.rules import status
from registry.rules.actors import Actor
from registry.rules.policies import Policy, current_policy
from registry.rules.recipients import who_hears
from registry.rules.status import LADDER_STAGE_LAPSED
from registry.runtime.clock import Clock, ClockReading, read_clocks
from registry.selectors.filters import LAPSED_AT
from registry.selectors.tallies import tally_is_current
from registry.services._common import claimed_batches, in_batches
from registry.services.expiry import EXPIRY_FIELDS, expire_rows
from registry.services.incident_ladder import climb_incident_ladder
from registry.services.job_ticks import job_details
from registry.services.source_sweep import source_unconfirmed
from registry.services.tallies import fold_tally, rebuild_tallies, refresh_due_facts, refresh_facts

Reason = Notification.Reason
State = AccessPath.State

log = logging.getLogger(__name__)

# The JobTick row the clock check is recorded on (health and metrics read it).
JOB_NAME = "sweep"
REFUSED_CLOCK_SKEW = "clock_skew"


@dataclass
class _Run:
    now: dt.datetime
    policy: Policy
    actor: Actor
    teams: dict[int, Team]
    security_ids: list[int]
    summary: Counter = field(default_factory=Counter)

    def notify(self, notices: Iterable[Notice], counter: str) -> None:
        self.summary[counter] += queue(notices, teams=self.teams, now=self.now)

    def publish(self, notices: Iterable[Notice]) -> None:
        self.summary["events_queued"] += queue(notices, teams=self.teams, now=self.now, event=True)


def sweep(
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    ignore_clock: bool = False,
    clock: Clock = timezone.now,
) -> dict[str, Any]:
    """Queue what is due at `now`; return counts of what was done (or would be).

    Without `now` (the beat task, `manage.py sweep`) the time is this process's `clock`,
    checked against the database's first: too far apart, nothing is done and the summary
    says `"refused": "clock_skew"` (unless `ignore_clock`, an operator's override). A
    `now` passed in is the caller's deliberate choice (tests travelling in time, a
    replay): there is no process clock in it to distrust, so it is not checked."""
    clock_figures: dict[str, Any] = {}
    if now is None:
        reading = read_clocks(clock)
        refused = not reading.trusted and not ignore_clock
        if not dry_run:  # a dry run changes nothing, its own record included
            _record_clock_check(reading, refused=refused)
        clock_figures = {
            "clock_skew_seconds": reading.skew_seconds,
            "max_clock_skew_seconds": reading.max_skew.total_seconds(),
        }
        if refused:
            log.error(
                "Sweep refused to act: %s. Nothing was changed; it checks again at its next "
                "run. Fix this host's time (NTP), or the database server's.",
                reading.describe(),
            )
            return {"refused": REFUSED_CLOCK_SKEW, **clock_figures, "dry_run": int(dry_run)}
        if not reading.trusted:
            log.warning("Sweep acting although %s (clock check ignored).", reading.describe())
        now = reading.process_time
    summary = _sweep_at(now, dry_run=dry_run)
    return summary | clock_figures | {"dry_run": int(dry_run)}


def _record_clock_check(reading: ClockReading, *, refused: bool) -> None:
    """Merge the check into the `sweep` row's details (services/job_ticks.py keeps the
    keys the tick recorder writes on the same row). Operational bookkeeping, not a
    change to any record the registry answers for, so it is not audited."""
    figures = {
        "clock_skew_seconds": reading.skew_seconds,
        "max_clock_skew_seconds": reading.max_skew.total_seconds(),
        "refused": refused,
        # The database's time: the one clock every process shares.
        "checked_at": reading.database_time.isoformat(),
    }
    job_details(JOB_NAME, figures)


def _sweep_at(now: dt.datetime, *, dry_run: bool) -> dict[str, Any]:
    teams = {team.pk: team for team in Team.objects.all()}
    run = _Run(
        now=now,
        policy=current_policy(),
        actor=Actor.system("sweep"),
        teams=teams,
        security_ids=[t.pk for t in teams.values() if t.kind == Team.Kind.SECURITY and t.is_active],
    )
    steps = (
        _expire,
        _offboarded,
        _climb_ladder,
        _review_reminders,
        _expiry_reminders,
        _unowned,
        _waiting_claims,
        _waiting_transfers,
        climb_incident_ladder,
        source_unconfirmed,
        _tally,
    )
    if dry_run:
        # Do everything, then roll it all back: the counts are exactly what a real run
        # would do at this moment.
        with transaction.atomic():
            for step in steps:
                step(run)
            transaction.set_rollback(True)
    else:
        for step in steps:
            step(run)
    return {key: run.summary[key] for key in sorted(run.summary)}


# --- helpers -------------------------------------------------------------------------


def _path_summary(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "system": row["system"],
        "environment": row["environment"],
    }


def _tell(run: _Run, row: dict, reason: str, cycle, stage: int, **extra) -> list[Notice]:
    """The notice about `row` to everyone who hears `reason` at `stage`
    (rules/recipients.py)."""
    payload = {"path": _path_summary(row), "reason": reason, "stage": stage, **extra}
    recipients = who_hears(
        reason,
        stage,
        owner_id=row.get("owner_team_id"),
        steward_id=row.get("steward_team_id"),
        security_ids=run.security_ids,
        to_team_id=row.get("to_team_id"),
    )
    return [
        Notice(
            team_id=r.team_id,
            audience=r.audience,
            path_id=row["id"],
            reason=reason,
            cycle=cycle,
            stage=stage,
            payload=payload,
        )
        for r in recipients
    ]


def _event_notices(
    run: _Run, rows: list[dict], event: str, cycle_of, stage: int, at_of
) -> list[Notice]:
    """The batch's events, with the payload of notifications/events.py (one identifiers
    query for the batch), to the owners' and stewards' webhooks."""
    return event_notices(
        rows, event, teams=run.teams, cycle_of=cycle_of, occurred_at_of=at_of, stage=stage
    )


# What every step reads of a path: the event payload's fields (notifications/events.py).
PATH_FIELDS = EVENT_FIELDS


# --- steps: each selects with a predicate of rules/status.py ---------------------------


def _tally(run: _Run) -> None:
    """Keep the dashboard's tally cheap to read (services/tallies.py): reclassify the
    paths whose facts ran out since the last run and fold the deltas; rebuild when the
    rules or the policy changed (reads count directly until then). Last, so it sees
    what the steps above changed."""
    if not tally_is_current(run.policy):
        run.summary["tally_rebuilt"] += rebuild_tallies(now=run.now)
        return
    reclassified = refresh_due_facts(now=run.now)
    if reclassified:
        run.summary["facts_reclassified"] += reclassified
    folded = fold_tally()
    if folded:
        run.summary["tally_rows_folded"] += folded


def _expire(run: _Run) -> None:
    """Mark paths past their expiry as expired (services/expiry.py: the same effects as
    path_expire, a batch at a time); tell the owner; publish the event."""
    due = AccessPath.objects.filter(status.expiry_due_q(run.now))
    for rows in claimed_batches(due, (*PATH_FIELDS, *EXPIRY_FIELDS)):
        entries = expire_rows(rows, actor=run.actor, now=run.now)
        run.summary["expired"] += len(rows)
        notices = []
        for row in rows:
            expires = row["expires_at"]
            notices += _tell(run, row, Reason.EXPIRED, expires, 0, expired_at=expires.isoformat())
        run.notify(notices, "notifications_queued")
        expiry = itemgetter("expires_at")
        run.publish(_event_notices(run, rows, Reason.EVENT_EXPIRED, expiry, 0, expiry))
        # Last: the chain head is the lock every writer shares.
        audit_record_many(actor=run.actor, now=run.now, entries=entries)


def _advance(run: _Run, rows: list[dict], stages: dict) -> None:
    """Move the claimed rows to their new stages: one UPDATE for the batch, whatever its
    size and its mix of stages."""
    ids = [row["id"] for row in rows]
    by_target: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_target[stages[row["id"]]].append(row["id"])
    target = Case(
        *(When(pk__in=members, then=Value(stage)) for stage, members in sorted(by_target.items())),
        output_field=IntegerField(),
    )
    updated = AccessPath.objects.filter(pk__in=ids).order_by().update(escalation_stage=target)
    if updated != len(ids):  # pragma: no cover - the rows are locked by us
        raise RuntimeError("escalation update missed rows locked by this sweep")
    refresh_facts(ids, now=run.now)


def _audit_escalations(
    run: _Run, rows: list[dict], stages: dict, reasons: dict, lapsed_at: dict
) -> None:
    """The batch's escalation events, in one append (one chain-head lock per batch). A
    lapse records when the path lapsed (`lapsed_at`, by path id): the sweep may notice
    it weeks later, and the dashboard charts it by that moment
    (selectors.filters.event_moment)."""
    entries = []
    for row in rows:
        target = stages[row["id"]]
        changes: dict[str, Any] = {"escalation_stage": [row["escalation_stage"], target]}
        if target == LADDER_STAGE_LAPSED:
            action = "access_path.lapsed"
            changes[LAPSED_AT] = [None, lapsed_at[row["id"]].isoformat()]
        else:
            action = "access_path.escalated"
        entries.append(
            AuditEntry(
                action=action,
                obj=AccessPath(pk=row["id"]),
                changes=changes,
                reason=reasons[row["id"]],
            )
        )
    audit_record_many(actor=run.actor, now=run.now, entries=entries)


def _publish_lapsed(run: _Run, rows: list[dict], lapsed_at: dict) -> None:
    cycle = itemgetter("next_review_at")
    stage = LADDER_STAGE_LAPSED
    run.publish(
        _event_notices(
            run, rows, Reason.EVENT_LAPSED, cycle, stage, lambda row: lapsed_at[row["id"]]
        )
    )


def _lapsed_by_age_at(run: _Run, row: dict) -> dt.datetime:
    """When an overdue review lapsed: its date plus the grace period (rules.status)."""
    return row["next_review_at"] + run.policy.lapse_after


def _unaccountable_since(team_ids: set[int]) -> dict[int, dt.datetime | None]:
    """Since when each of these teams (all inactive or empty now) has been unable to
    answer for its paths: since the earlier of the moments its present conditions began
    (its last deactivation, its last member's departure). None: one of them has held
    from the start (nobody ever joined, or no deactivation on record)."""
    teams = Team.objects.filter(pk__in=team_ids).values_list("pk", "is_active")
    staffed = status.staffed_team_ids(team_ids)
    left = dict(
        Membership.objects.filter(team_id__in=team_ids, ended_at__isnull=False)
        .order_by()
        .values("team_id")
        .annotate(last=Max("ended_at"))
        .values_list("team_id", "last")
    )
    deactivated = {
        int(pk): last
        for pk, last in AuditEvent.objects.filter(
            action="team.deactivated",
            object_type="team",
            object_id__in=[str(pk) for pk in team_ids],
        )
        .order_by()
        .values("object_id")
        .annotate(last=Max("created_at"))
        .values_list("object_id", "last")
    }
    since: dict[int, dt.datetime | None] = {}
    for pk, is_active in teams:
        moments = []
        if not is_active:
            moments.append(deactivated.get(pk))
        if pk not in staffed:
            moments.append(left.get(pk))
        known = [moment for moment in moments if moment is not None]
        # Either condition alone makes the team unaccountable: it has been so since
        # the earlier one began; one holding "since always" means since always.
        since[pk] = min(known) if known and len(known) == len(moments) else None
    return since


def _offboarded_at(run: _Run, rows: list[dict]) -> dict:
    """When each offboarded path lapsed: once it was owned (state_changed_at) by a team
    unable to answer for it, or earlier when its review had already lapsed by age."""
    since = _unaccountable_since({row["owner_team_id"] for row in rows})
    moments = {}
    for row in rows:
        team_since = since.get(row["owner_team_id"])
        moment = row["state_changed_at"] if team_since is None else team_since
        moment = max(moment, row["state_changed_at"])
        if row["next_review_at"] is not None:
            moment = min(moment, _lapsed_by_age_at(run, row))
        moments[row["id"]] = min(moment, run.now)
    return moments


def _offboarded(run: _Run) -> None:
    """NHI1: an owning team that is inactive or empty lapses its paths at once."""
    due = AccessPath.objects.filter(status.offboarded_due_q(run.now))
    fields = (*PATH_FIELDS, "next_review_at", "escalation_stage", "state_changed_at")
    why = "The owning team is inactive or has no members."
    for rows in claimed_batches(due, fields):
        stages = {row["id"]: LADDER_STAGE_LAPSED for row in rows}
        lapsed_at = _offboarded_at(run, rows)
        _advance(run, rows, stages)
        notices = []
        for row in rows:
            cycle = row["next_review_at"]
            notices += _tell(run, row, Reason.OWNER_UNACCOUNTABLE, cycle, LADDER_STAGE_LAPSED)
        run.notify(notices, "notifications_queued")
        _publish_lapsed(run, rows, lapsed_at)
        _audit_escalations(run, rows, stages, {row["id"]: why for row in rows}, lapsed_at)
        run.summary["lapsed"] += len(rows)


def _climb_ladder(run: _Run) -> None:
    """Overdue reviews climb the ladder (rules/recipients.py says who hears each stage).
    A path whose sweep was missed jumps to the stage it has reached: one notice, not a
    burst."""
    due = AccessPath.objects.filter(status.ladder_due_q(run.now, run.policy))
    fields = (*PATH_FIELDS, "next_review_at", "escalation_stage")
    for rows in claimed_batches(due, fields):
        notices, lapsed, stages, reasons, lapsed_at = [], [], {}, {}, {}
        for row in rows:
            cycle = row["next_review_at"]
            stage = run.policy.escalation_stage_for(run.now - cycle)
            stages[row["id"]] = stage
            reason = status.ladder_reason(stage)
            notices += _tell(run, row, reason, cycle, stage, due_at=cycle.isoformat())
            if stage >= LADDER_STAGE_LAPSED:
                lapsed.append(row)
                lapsed_at[row["id"]] = _lapsed_by_age_at(run, row)
                run.summary["lapsed"] += 1
            reasons[row["id"]] = f"Review overdue since {cycle.isoformat()}."
            run.summary[f"escalated_to_stage_{stage}"] += 1
        _advance(run, rows, stages)
        run.notify(notices, "notifications_queued")
        _publish_lapsed(run, lapsed, lapsed_at)
        _audit_escalations(run, rows, stages, reasons, lapsed_at)


# --- reminders: only what has not been told yet ---------------------------------------
#
# A reminder carries no state of its own: it is due while no notification exists for
# its (path, reason, cycle, stage). The queries below leave out, in SQL, every one that
# was already queued (an anti-join on the outbox by path, the notification_by_path
# index), so a run's cost follows what is new, not the backlog; the outbox's unique key
# still guards against a concurrent run queuing the same rows. Who hears it is decided
# per batch by rules/recipients.py (its one home), when the notice is written.


@dataclass(frozen=True)
class Band:
    """The rows of a due query that get the same (reason, stage) at `now`."""

    q: Q
    reason: str
    stage: int


def reminder_bands(run: Any, date_field: str, reason: str) -> list[Band]:
    """Split the reminder window by offset: a date `d` days away or less (and more than
    the next smaller offset) gets the `d`-day reminder. The stage of each band is the
    one Policy.reminder_offset_for gives for its upper bound (its one home);
    tests/services/test_sweep_bulk.py checks the bands agree with it at every point."""
    bands, lower = [], run.now
    for days in sorted(set(run.policy.reminder_offsets_days)):
        upper = run.now + dt.timedelta(days=days)
        stage = run.policy.reminder_offset_for(upper - run.now)
        q = Q(**{f"{date_field}__gt": lower, f"{date_field}__lte": upper})
        bands.append(Band(q, reason, stage))
        lower = upper
    return bands


def unowned_bands(run: Any) -> list[Band]:
    """Unowned since before the unclaimed line: escalated; since after: first notice.
    The (reason, stage) of each side is status.unowned_notice's at that side."""
    line = run.now - dt.timedelta(days=run.policy.unclaimed_escalation_days)
    late = status.unowned_notice(line, run.now, run.policy)
    early = status.unowned_notice(run.now, run.now, run.policy)
    return [
        Band(Q(state_changed_at__lte=line), *late),
        Band(Q(state_changed_at__gt=line), *early),
    ]


def not_told_q(reason: str, stage: int, *, cycle: str, path: str = "pk") -> Q:
    """No notification yet about the row's path for (reason, cycle, stage)."""
    told = Notification.objects.filter(
        path_id=OuterRef(path), reason=reason, cycle=OuterRef(cycle), stage=stage
    )
    return ~Q(Exists(told))


def _remind(
    run: _Run,
    qs: QuerySet,
    bands: list[Band],
    cycle: str,
    fields: tuple[str, ...],
    counter: str,
    notices_of: Callable[[dict, Band], list[Notice]],
    path: str = "pk",
) -> None:
    """Stream each band's rows that were not told yet, a batch at a time (one execution
    of the band's query, read through a server-side cursor: memory stays flat), and
    queue each batch in its own transaction. The rows are as of the band's query: a path
    attested while its band is being written still gets the reminder of the cycle it
    was due in (the next run sees the new cycle)."""
    for band in bands:
        due = qs.filter(band.q).filter(not_told_q(band.reason, band.stage, cycle=cycle, path=path))
        for rows in in_batches(due, fields):
            notices = [notice for row in rows for notice in notices_of(row, band)]
            with transaction.atomic():
                run.notify(notices, counter)


def _reminders(run: _Run, qs: QuerySet, date_field: str, reason: str) -> None:
    def notices_of(row: dict, band: Band) -> list[Notice]:
        when = row[date_field]
        return _tell(
            run, row, reason, when, band.stage, due_at=when.isoformat(), days_before=band.stage
        )

    bands = reminder_bands(run, date_field, reason)
    fields = (*PATH_FIELDS, date_field)
    _remind(run, qs, bands, date_field, fields, "reminders_queued", notices_of)


def _review_reminders(run: _Run) -> None:
    due = AccessPath.objects.filter(status.review_reminder_due_q(run.now, run.policy))
    _reminders(run, due, "next_review_at", Reason.REVIEW_REMINDER)


def _expiry_reminders(run: _Run) -> None:
    due = AccessPath.objects.filter(status.expiry_reminder_due_q(run.now, run.policy))
    _reminders(run, due, "expires_at", Reason.EXPIRY_REMINDER)


def _unowned(run: _Run) -> None:
    """Unowned paths: the steward and security are told; unclaimed after N days, again."""

    def notices_of(row: dict, band: Band) -> list[Notice]:
        since = row["state_changed_at"]
        return _tell(run, row, band.reason, since, band.stage, unowned_since=since.isoformat())

    unowned = AccessPath.objects.filter(status.unowned_live_q(run.now))
    fields = (*PATH_FIELDS, "state_changed_at")
    bands = unowned_bands(run)
    _remind(run, unowned, bands, "state_changed_at", fields, "notifications_queued", notices_of)


def _waiting(run: _Run, qs: QuerySet, reason: str) -> None:
    """Remind about a claim or transfer left waiting (security, or the team offered it)."""
    fields: tuple[str, ...] = (
        "id", "created_at", "path_id", "path__name", "path__system", "path__environment",
    )  # fmt: skip
    if qs.model is Transfer:
        fields = (*fields, "to_team_id")

    def notices_of(row: dict, band: Band) -> list[Notice]:
        path_row = {
            "id": row["path_id"],
            "name": row["path__name"],
            "system": row["path__system"],
            "environment": row["path__environment"],
            "to_team_id": row.get("to_team_id"),
        }
        since = row["created_at"]
        return _tell(run, path_row, reason, since, 0, waiting_since=since.isoformat())

    bands = [Band(Q(), reason, 0)]
    _remind(run, qs, bands, "created_at", fields, "notifications_queued", notices_of, "path_id")


def _waiting_claims(run: _Run) -> None:
    line = status.claim_waiting_line(run.now, run.policy)
    waiting = Claim.objects.filter(status=Claim.Status.PENDING, created_at__lte=line)
    _waiting(run, waiting, Reason.CLAIM_WAITING)


def _waiting_transfers(run: _Run) -> None:
    line = status.transfer_waiting_line(run.now, run.policy)
    waiting = Transfer.objects.filter(status=Transfer.Status.PENDING, created_at__lte=line)
    _waiting(run, waiting, Reason.TRANSFER_WAITING)
