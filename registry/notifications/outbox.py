"""Writing to the notification outbox.

Rows go in with INSERT … ON CONFLICT DO NOTHING against the outbox's unique key
(team, audience, channel, path, reason, cycle, stage): a second sweep, a concurrent one
or a retried task adds nothing, and the statement's row count says exactly how many
notifications were new.

Notices to people are held until the end of the current NHI_DELIVERY_COALESCE_SECONDS
slot (rules/policies.delivery_due_at), so a burst of writes for one recipient leaves as
one digest; the wake-up sent to the workers asks for a run at that moment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.dispatch import Signal

from registry.models import Membership, Notification, Team
from registry.rules.policies import delivery_due_at
from registry.runtime.recordset import column_field, recordset_insert_sql, rows_document

Audience = Notification.Audience
Channel = Notification.Channel

_COLUMNS = (
    "team_id", "audience", "channel", "path_id", "reason", "payload", "cycle", "stage",
    "status", "attempts", "next_attempt_at", "last_error", "created_at",
)  # fmt: skip
# Rows per statement when the backend caps bound parameters (SQLite: 999); otherwise
# large enough that a sweep's batch of notices is one or two statements.
_ROWS_UNCAPPED = 2_000

# Sent after a transaction that queued notifications commits (workers subscribe), with
# `due_at`, when the first new row is due (a run sooner would find nothing), and
# `coalesced`, whether that moment is a coalescing slot's end that other writes share.
outbox_written = Signal()


def path_summary(path: Any) -> dict[str, str]:
    """What a notice says about its path (digests render it; webhooks carry it)."""
    return {
        "id": str(path.pk),
        "name": path.name,
        "system": path.system,
        "environment": path.environment,
    }


@dataclass(frozen=True)
class Notice:
    """One thing to tell one audience of one team about one path."""

    team_id: int
    audience: str
    path_id: uuid.UUID
    reason: str
    cycle: dt.datetime
    stage: int = 0
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def channels_for(team: Team, audience: str, *, event: bool = False) -> list[str]:
    """Where a team hears about things. Lifecycle events go to its event webhook only;
    leads are written to personally; the whole team also on its chat channels."""
    if event:
        return [Channel.WEBHOOK] if team.event_webhook_url else []
    if audience == Audience.LEADS:
        return [Channel.EMAIL]
    channels: list[str] = [Channel.EMAIL]
    if team.slack_webhook_url:
        channels.append(Channel.SLACK)
    if team.teams_webhook_url:
        channels.append(Channel.TEAMS)
    return channels


def queue(
    notices: Iterable[Notice], *, teams: dict[int, Team], now: dt.datetime, event: bool = False
) -> int:
    """Queue each notice on each of its team's channels; return how many rows were new."""
    rows = [
        (notice, channel)
        for notice in notices
        for channel in channels_for(teams[notice.team_id], notice.audience, event=event)
    ]
    coalesce = int(settings.NHI_DELIVERY_COALESCE_SECONDS)
    due = {
        channel: delivery_due_at(channel=channel, queued_at=now, coalesce_seconds=coalesce)
        for channel in {channel for _, channel in rows}
    }
    inserted = 0
    per_statement = _rows_per_statement()
    for start in range(0, len(rows), per_statement):
        inserted += _insert(rows[start : start + per_statement], now, due)
    if inserted:
        # Wake the delivery worker once the rows are committed, for when the first of
        # them is due. Whoever listens must not fail the write: the outbox holds the
        # rows and the periodic run catches up.
        due_at = min(due.values())
        transaction.on_commit(
            lambda: outbox_written.send(sender=Notification, due_at=due_at, coalesced=due_at > now)
        )
    return inserted


def _rows_per_statement() -> int:
    if connection.vendor == "postgresql":
        return _ROWS_UNCAPPED
    cap = connection.features.max_query_params
    return max(cap // len(_COLUMNS), 1) if cap else _ROWS_UNCAPPED


def _insert(
    rows: Sequence[tuple[Notice, str]], now: dt.datetime, due: dict[str, dt.datetime]
) -> int:
    if not rows:
        return 0
    fields = {name: _column_field(name) for name in _COLUMNS}
    table: list[list[Any]] = []
    for notice, channel in rows:
        values = {
            "team_id": notice.team_id,
            "audience": notice.audience,
            "channel": channel,
            "path_id": notice.path_id,
            "reason": notice.reason,
            "payload": notice.payload,
            "cycle": notice.cycle,
            "stage": notice.stage,
            "status": Notification.Status.PENDING,
            "attempts": 0,
            "next_attempt_at": due[channel],
            "last_error": "",
            "created_at": now,
        }
        table.append([values[name] for name in _COLUMNS])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One parameter however many rows (runtime/recordset.py says why).
            cursor.execute(_recordset_sql(), [rows_document(_COLUMNS, table)])
        else:
            params = [
                fields[name].get_db_prep_save(value, connection)
                for row in table
                for name, value in zip(_COLUMNS, row, strict=True)
            ]
            cursor.execute(_insert_sql(len(rows)), params)
        return max(cursor.rowcount, 0)


def _column_field(name: str) -> Field[Any, Any]:
    return column_field(Notification, name)


@cache
def _recordset_sql() -> str:
    return recordset_insert_sql(Notification, _COLUMNS, suffix=" ON CONFLICT DO NOTHING")


def _insert_sql(rows: int) -> str:
    """Only constant identifiers go into the text; every value is a bound parameter."""
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    return " ".join(
        [
            "INSERT INTO",
            quote(Notification._meta.db_table),
            "(" + ", ".join(quote(c) for c in _COLUMNS) + ")",
            "VALUES",
            ", ".join([row] * rows),
            "ON CONFLICT DO NOTHING",
        ]
    )


def recipients_emails(team: Team, audience: str) -> list[str]:
    """The addresses an email digest goes to: the team's own address, or its people.
    A team without leads escalates to the whole team instead (a fallback reviewer
    beats a message nobody receives)."""
    members = Membership.objects.filter(team=team, ended_at__isnull=True).select_related("user")
    if audience == Audience.LEADS:
        leads = {m.user.email for m in members if m.role == Membership.Role.LEAD and m.user.email}
        if leads:
            return sorted(leads)
    if team.email:
        return [team.email]
    return sorted({m.user.email for m in members if m.user.email})
