"""Expiring paths: the one home of what marking a path expired does, for one path
(services/path_retirement.path_expire) and for a sweep's batch of thousands (services/sweep.py).

For every path given (already locked by the caller, its expiry passed):
- the path is marked `expired` at `now` (state_changed_at), its version bumped, by one
  compare-and-set UPDATE over the whole batch (the expiry predicate of rules/status.py);
- its pending claims are rejected and its pending transfers declined ("The path
  expired."), one UPDATE each for the whole batch;
- the dashboard's facts are refreshed for the batch (services/tallies.py);
- the audit events are returned, not appended: per path, its claims' `claim.rejected`
  (newest first, as Claim's ordering reads them), its transfers' `transfer.declined`,
  then `access_path.expired` with the state change — exactly the events the per-path
  service wrote. The caller appends them last in its transaction (one chain-head lock
  per batch), after queuing its notices, so concurrent sweeps never take the chain head
  and the outbox's keys in opposite orders.

A claim rejected here never turns its path back to `unowned` (services/_common.
reject_claim does so for the last pending claim of a live path): the path is expired
by then, and an expired path stays expired.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import F

from registry.audit import AuditEntry, diff
from registry.models import AccessPath, Claim, Transfer
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import InvalidTransition
from registry.rules.status import expiry_due_q
from registry.services.tallies import refresh_facts

State = AccessPath.State

# What expire_rows needs of each path (besides its id): the audit diff's "before" and
# the event's reason.
EXPIRY_FIELDS = ("state", "state_changed_at", "expires_at")
WHY = "The path expired."


def expire_rows(
    rows: Sequence[Mapping[str, Any]], *, actor: Actor, now: dt.datetime
) -> list[AuditEntry]:
    """Expire the locked paths in `rows` (dicts with `id` and EXPIRY_FIELDS, in id
    order); return their audit events, to be appended by the caller in the same
    transaction."""
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    updated = (
        AccessPath.objects.filter(expiry_due_q(now), pk__in=ids)
        .order_by()
        .update(state=State.EXPIRED, state_changed_at=now, version=F("version") + 1, updated_at=now)
    )
    if updated != len(ids):
        # The caller holds the rows' locks and chose them by the same predicate: a
        # mismatch means a row changed under the lock, which must not be written over.
        raise InvalidTransition(errors.PATH_CHANGED_CONCURRENTLY)
    closed = _close_open_requests(ids, actor=actor, now=now)
    refresh_facts(ids, now=now)
    entries: list[AuditEntry] = []
    for row in rows:
        entries += closed.get(row["id"], [])
        before = {"state": row["state"], "state_changed_at": row["state_changed_at"]}
        entries.append(
            AuditEntry(
                action="access_path.expired",
                obj=AccessPath(pk=row["id"]),
                changes=diff(before, {"state": State.EXPIRED, "state_changed_at": now}),
                reason=f"Expiry {row['expires_at'].isoformat()} reached.",
            )
        )
    return entries


def expire_locked(path: AccessPath, *, actor: Actor, now: dt.datetime) -> list[AuditEntry]:
    """expire_rows for one loaded, locked path; the instance is brought up to date as the
    row now reads (as services/_common.save_path does)."""
    row = {"id": path.pk, **{name: getattr(path, name) for name in EXPIRY_FIELDS}}
    entries = expire_rows([row], actor=actor, now=now)
    path.state, path.state_changed_at = State.EXPIRED, now
    path.version, path.updated_at = path.version + 1, now
    return entries


def _close_open_requests(
    path_ids: Sequence[Any], *, actor: Actor, now: dt.datetime
) -> dict[Any, list[AuditEntry]]:
    """Reject the paths' pending claims and decline their pending transfers (locked
    first, so a concurrent decision waits and then finds them closed); {path id: the
    events, claims before transfers, each newest first}."""
    events: dict[Any, list[AuditEntry]] = defaultdict(list)
    decided = {"decided_by": actor.user, "decided_at": now, "decision_reason": WHY}
    for model, closed_status, action in (
        (Claim, Claim.Status.REJECTED, "claim.rejected"),
        (Transfer, Transfer.Status.DECLINED, "transfer.declined"),
    ):
        pending = list(
            model.objects.select_for_update()
            .filter(path_id__in=path_ids, status=model.Status.PENDING)
            .order_by("path_id", "-created_at", "-id")
            .values_list("id", "path_id")
        )
        if not pending:
            continue
        model.objects.filter(
            pk__in=[pk for pk, _ in pending], status=model.Status.PENDING
        ).order_by().update(status=closed_status, **decided)
        for pk, path_id in pending:
            events[path_id].append(
                AuditEntry(
                    action=action,
                    obj=model(pk=pk),
                    path=AccessPath(pk=path_id),
                    changes={"status": [model.Status.PENDING, closed_status]},
                    reason=WHY,
                )
            )
    return events
