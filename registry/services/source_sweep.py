"""The sweep's step for downstream revocation: security is told, once per path, about a
path retired here and not confirmed disabled at the source after
`Policy.source_confirmation_hours` (cycle: when it was retired), and about a path a full
sync still lists after it was retired (cycle: when the sync flagged it).

Set-based: paths already told about in this cycle are left out by the query itself
(an anti-join on the outbox, by path), so a run's cost follows the new work, not the
backlog; the outbox's unique key still guards against a concurrent run."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from registry.models import AccessPath, Notification
from registry.notifications.outbox import Notice, path_summary
from registry.rules.recipients import who_hears
from registry.rules.status import unconfirmed_q
from registry.selectors.source_queue import still_listed_q
from registry.services._common import in_batches

_FIELDS = ("id", "name", "system", "environment")
Reason = Notification.Reason


def _not_told(reason: str, cycle_field: str) -> Q:
    told = Notification.objects.filter(
        path_id=OuterRef("pk"), reason=reason, cycle=OuterRef(cycle_field)
    )
    return ~Q(Exists(told))


def _tell_security(run: Any, qs: QuerySet, reason: str, cycle_field: str) -> None:
    if not run.security_ids:
        return
    due = qs.filter(_not_told(reason, cycle_field))
    for rows in in_batches(due, (*_FIELDS, cycle_field)):
        notices = [
            Notice(
                team_id=recipient.team_id,
                audience=recipient.audience,
                path_id=row["id"],
                reason=reason,
                cycle=row[cycle_field],
                payload={
                    "path": path_summary(AccessPath(**{f: row[f] for f in _FIELDS})),
                    "reason": reason,
                    "stage": 0,
                    "since": row[cycle_field].isoformat(),
                },
            )
            for row in rows
            for recipient in who_hears(
                reason, 0, owner_id=None, steward_id=None, security_ids=run.security_ids
            )
        ]
        with transaction.atomic():
            run.notify(notices, "notifications_queued")


def source_unconfirmed(run: Any) -> None:
    """`run` is the sweep's run (now, policy, security team ids, notify)."""
    unconfirmed = AccessPath.objects.filter(unconfirmed_q(run.now, run.policy))
    _tell_security(run, unconfirmed, Reason.SOURCE_UNCONFIRMED, "state_changed_at")
    listed = AccessPath.objects.filter(still_listed_q())
    _tell_security(run, listed, Reason.SOURCE_STILL_LISTED, "source_still_listed_at")
