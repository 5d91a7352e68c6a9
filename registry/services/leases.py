"""Leases of just-in-time issuers (issue 18): recorded in bulk, folded per hour, purged.

A pipeline issuing thousands of credentials a minute records them here in batches of up
to `Policy.max_leases_per_request`. A batch is validated whole before anything is
written (one bad item refuses it all, named `leases[i].field`), inserted set-based
(`ON CONFLICT DO NOTHING RETURNING`: a retried batch's leases are counted once), and
the inserted leases are folded into their issuer's LeaseHour rows in the same
transaction, under row locks, so concurrent batches add up exactly. A batch is one audit
event, never one per lease; it makes no path and no notification. A lease longer than
the issuer's declared maximum stamps `lease_overrun_at` on the issuer (a path write,
so its facts and the dashboard's tally follow: posture NHI7_LEASE_OVER_MAX).

Raw leases are telemetry already counted in LeaseHour: `leases_purge` deletes those
recorded before the retention window (`Policy.lease_retention_days`), the one
documented exception to "records are never deleted" (audited per issuer and batch).
The hourly rows stay for good.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from registry.audit import AuditEntry, audit_record, audit_record_many
from registry.models import AccessPath, Lease, LeaseHour
from registry.rules import errors, permissions, preconditions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, NotFound
from registry.rules.leases import bucket_of, hour_of, merged_recorded_by
from registry.rules.policies import Policy, current_policy
from registry.rules.validation import secret_errors
from registry.runtime.recordset import column_field, recordset_insert_sql, rows_document
from registry.services._common import (
    lock_path,
    refuse_transition,
    resolve_now,
    save_path,
)

# A pipeline's clock may run a little ahead of ours.
CLOCK_SKEW = dt.timedelta(minutes=5)
LEASE_FIELDS = frozenset({"lease_ref", "subject", "issued_at", "ttl_seconds"})
TEXT_LENGTH = 200
MAX_TTL_SECONDS = 2**31 - 1  # the column's bound (PositiveIntegerField)
# At most this many fields are named in one refusal: the first bad items are enough to
# fix a generator, and a 5,000-item answer would be larger than the batch.
MAX_ERRORS = 20
# Rows per INSERT on SQLite (7 parameters each, below its bound on parameters).
SQLITE_ROWS = 1000
PURGE_BATCH = 5000


@dataclass(frozen=True)
class LeaseBatch:
    """What recording a batch did."""

    recorded: int
    duplicates: int
    over_max: int


@dataclass(frozen=True)
class _Lease:
    lease_ref: str
    subject: str
    issued_at: dt.datetime
    ttl_seconds: int


# --- validation ----------------------------------------------------------------------


class _Checker:
    """Every item of a batch checked; the same text is scanned for a credential once
    (a batch repeats its subjects)."""

    def __init__(self, *, now: dt.datetime, policy: Policy) -> None:
        self.now = now
        self.policy = policy
        self.errors: dict[str, list[str]] = {}
        self._scanned: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors[name] = [message]

    def text(self, name: str, value: Any) -> str | None:
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > TEXT_LENGTH:
            self.fail(name, errors.LEASE_TEXT.format(length=TEXT_LENGTH))
            return None
        text = value.strip()
        if text not in self._scanned:
            # One name for the scan, so the rules applied cannot depend on the item's index.
            self._scanned[text] = secret_errors({"lease": text}).get("lease", [])
        if found := self._scanned[text]:
            self.fail(name, found[0])
            return None
        return text

    def issued_at(self, name: str, value: Any) -> dt.datetime | None:
        try:
            moment = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # well formed, but no such moment (month 13)
            moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(name, errors.LEASE_ISSUED_AT)
            return None
        if moment > self.now + CLOCK_SKEW:
            self.fail(name, errors.LEASE_ISSUED_IN_FUTURE)
            return None
        days = self.policy.lease_retention_days
        if moment < self.now - dt.timedelta(days=days):
            self.fail(name, errors.LEASE_ISSUED_TOO_LONG_AGO.format(days=days))
            return None
        return moment.astimezone(dt.UTC)

    def ttl(self, name: str, value: Any) -> int | None:
        # bool is an int to Python, never to a pipeline; 900.0 is not a whole number here.
        if type(value) is not int or not 1 <= value <= MAX_TTL_SECONDS:
            self.fail(name, errors.LEASE_TTL.format(limit=MAX_TTL_SECONDS))
            return None
        return value

    def lease(self, index: int, item: Any) -> _Lease | None:
        prefix = f"leases[{index}]"
        if not isinstance(item, Mapping):
            self.fail(prefix, errors.LEASE_NOT_AN_OBJECT)
            return None
        for unknown in sorted(set(item) - LEASE_FIELDS, key=str):
            self.fail(f"{prefix}.{unknown}", errors.LEASE_UNKNOWN_FIELD)
        values = (
            self.text(f"{prefix}.lease_ref", item.get("lease_ref")),
            self.text(f"{prefix}.subject", item.get("subject")),
            self.issued_at(f"{prefix}.issued_at", item.get("issued_at")),
            self.ttl(f"{prefix}.ttl_seconds", item.get("ttl_seconds")),
        )
        lease_ref, subject, issued_at, ttl = values
        if lease_ref is None or subject is None or issued_at is None or ttl is None:
            return None
        return _Lease(lease_ref, subject, issued_at, ttl)


def _validated(leases: Any, *, now: dt.datetime, policy: Policy) -> list[_Lease]:
    limit = policy.max_leases_per_request
    if not isinstance(leases, Sequence) or isinstance(leases, str | bytes):
        raise Invalid.single("leases", errors.LEASES_BATCH_SIZE.format(limit=limit))
    if not 1 <= len(leases) <= limit:
        raise Invalid.single("leases", errors.LEASES_BATCH_SIZE.format(limit=limit))
    checker = _Checker(now=now, policy=policy)
    checked = [checker.lease(index, item) for index, item in enumerate(leases)]
    if checker.errors:
        raise Invalid(checker.errors)
    return [lease for lease in checked if lease is not None]


# --- recording -----------------------------------------------------------------------

_COLUMNS = (
    "issuer_id", "lease_ref", "subject", "issued_at", "ttl_seconds", "recorded_at", "recorded_by",
)  # fmt: skip
_RETURNING = " ON CONFLICT DO NOTHING RETURNING issued_at, ttl_seconds, subject"


def _insert(
    issuer: AccessPath, leases: list[_Lease], *, label: str, now: dt.datetime
) -> list[tuple[dt.datetime, int, str]]:
    """Insert the leases, skipping those already recorded (issuer, lease_ref); the
    inserted ones' (issued_at, ttl_seconds, subject)."""
    rows = [
        (issuer.pk, lease.lease_ref, lease.subject, lease.issued_at, lease.ttl_seconds, now, label)
        for lease in leases
    ]
    columns = _COLUMNS
    inserted: list[tuple[Any, int, str]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One parameter for the whole batch (runtime/recordset.py says why).
            sql = recordset_insert_sql(Lease, columns, suffix=_RETURNING)
            cursor.execute(sql, [rows_document(columns, rows)])
            inserted.extend(cursor.fetchall())
        else:
            quote = connection.ops.quote_name
            preps = [column_field(Lease, name).get_db_prep_value for name in columns]
            listed = ", ".join(quote(name) for name in columns)
            one = "(" + ", ".join(["%s"] * len(columns)) + ")"
            for start in range(0, len(rows), SQLITE_ROWS):
                chunk = rows[start : start + SQLITE_ROWS]
                sql = (
                    f"INSERT INTO {quote(Lease._meta.db_table)} ({listed}) "  # noqa: S608
                    f"VALUES {', '.join([one] * len(chunk))}{_RETURNING}"
                )
                params = [
                    prep(value, connection)
                    for row in chunk
                    for prep, value in zip(preps, row, strict=True)
                ]
                cursor.execute(sql, params)
                inserted.extend(cursor.fetchall())
    return [(_from_db(issued), ttl, subject) for issued, ttl, subject in inserted]


def _from_db(value: Any) -> dt.datetime:
    """A timestamp as RETURNING gives it: aware on PostgreSQL, UTC text on SQLite (the
    raw cursor skips the field's converters)."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass
class _Hour:
    last_issued_at: dt.datetime
    last_subject: str
    leases: int = 0
    total_seconds: int = 0
    max_seconds: int = 0
    buckets: Counter = field(default_factory=Counter)


def _hours(inserted: Iterable[tuple[dt.datetime, int, str]]) -> dict[dt.datetime, _Hour]:
    hours: dict[dt.datetime, _Hour] = {}
    for issued_at, ttl, subject in inserted:
        hour = hours.setdefault(hour_of(issued_at), _Hour(issued_at, subject))
        hour.leases += 1
        hour.total_seconds += ttl
        hour.max_seconds = max(hour.max_seconds, ttl)
        hour.buckets[bucket_of(ttl)] += 1
        if issued_at >= hour.last_issued_at:
            hour.last_issued_at, hour.last_subject = issued_at, subject
    return hours


def _fold(issuer: AccessPath, hours: dict[dt.datetime, _Hour], *, label: str) -> None:
    """Add the hours' counts to the issuer's LeaseHour rows: the missing rows made
    first, then every row locked (in hour order: two batches lock in the same order) and
    written back in one UPDATE."""
    if not hours:
        return
    made = [LeaseHour(issuer_id=issuer.pk, hour=hour, last_issued_at=hour) for hour in hours]
    LeaseHour.objects.bulk_create(made, ignore_conflicts=True)
    rows = list(
        LeaseHour.objects.select_for_update()
        .filter(issuer_id=issuer.pk, hour__in=list(hours))
        .order_by("hour")
    )
    for row in rows:
        counts = hours[row.hour]
        row.total_seconds += counts.total_seconds
        row.max_seconds = max(row.max_seconds, counts.max_seconds)
        row.buckets = dict(Counter(row.buckets) + counts.buckets)
        # A row made just now has no leases yet, and its hour as a placeholder.
        if row.leases == 0 or counts.last_issued_at >= row.last_issued_at:
            row.last_issued_at, row.last_subject = counts.last_issued_at, counts.last_subject
        row.leases += counts.leases
        row.recorded_by = merged_recorded_by(row.recorded_by, label, counts.leases)
    LeaseHour.objects.bulk_update(
        rows,
        [
            "leases", "total_seconds", "max_seconds", "buckets", "last_issued_at",
            "last_subject", "recorded_by",
        ],
    )  # fmt: skip


def _refuse_invisible(actor: Actor, issuer: AccessPath) -> None:
    if permissions.refuse_record_leases(actor, issuer) is not None:
        raise NotFound(errors.NOT_FOUND)


def leases_record(
    *,
    actor: Actor,
    issuer: AccessPath,
    leases: Any,
    now: dt.datetime | None = None,
    policy: Policy | None = None,
) -> LeaseBatch:
    """Record a batch of leases issued under `issuer` (see the module's docstring)."""
    now = resolve_now(now)
    policy = policy or current_policy()
    _refuse_invisible(actor, issuer)
    refuse_transition(preconditions.refuse_record_leases_now(issuer, now))
    # Checked before any lock: a 5,000-item batch's scan holds nobody up.
    checked = _validated(leases, now=now, policy=policy)
    with transaction.atomic():
        locked = lock_path(issuer.pk)
        _refuse_invisible(actor, locked)
        refuse_transition(preconditions.refuse_record_leases_now(locked, now))
        label = actor.label[:TEXT_LENGTH]
        inserted = _insert(locked, checked, label=label, now=now)
        hours = _hours(inserted)
        _fold(locked, hours, label=label)
        limit = locked.max_lease_seconds
        over_max = sum(1 for _, ttl, _ in inserted if limit is not None and ttl > limit)
        changes: dict[str, Any] = {}
        if over_max:
            changes = save_path(locked, {"lease_overrun_at": now}, now=now)
        batch = LeaseBatch(
            recorded=len(inserted), duplicates=len(checked) - len(inserted), over_max=over_max
        )
        # Counts, as every audited creation records its values: [None, value].
        summary: dict[str, Any] = {
            "recorded": [None, batch.recorded],
            "duplicates": [None, batch.duplicates],
            "over_max": [None, batch.over_max],
        }
        if hours:
            summary |= {"first_hour": [None, min(hours)], "last_hour": [None, max(hours)]}
        audit_record(
            actor=actor,
            action="leases.recorded",
            obj=locked,
            now=now,
            changes={**summary, **changes},
        )
    return batch


# --- retention -----------------------------------------------------------------------


def leases_purge(
    *, now: dt.datetime | None = None, policy: Policy | None = None, batch: int = PURGE_BATCH
) -> int:
    """Delete raw leases recorded before the retention window, `batch` at a time (each
    its own short transaction, audited in it: one event per issuer and batch, never per
    lease); their LeaseHour rows stay. How many were deleted."""
    now = resolve_now(now)
    policy = policy or current_policy()
    cutoff = now - dt.timedelta(days=policy.lease_retention_days)
    actor = Actor.system("leases_purge")
    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Lease.objects.filter(recorded_at__lt=cutoff)
                .order_by("recorded_at")
                .values_list("id", "issuer_id")[:batch]
            )
            if not rows:
                return deleted
            Lease.objects.filter(id__in=[row[0] for row in rows]).delete()
            deleted += len(rows)
            per_issuer = Counter(issuer_id for _, issuer_id in rows)
            issuers = AccessPath.objects.filter(pk__in=list(per_issuer)).only("pk")
            entries = [
                AuditEntry(
                    action="leases.purged",
                    obj=issuer,
                    changes={
                        "purged": [None, per_issuer[issuer.pk]],
                        "recorded_before": [None, cutoff],
                    },
                )
                for issuer in issuers.order_by("pk")
            ]
            audit_record_many(actor=actor, now=now, entries=entries)
