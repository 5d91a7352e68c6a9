"""Lifecycle events for integrations: what a downstream system needs to act on a path
(disable the credential where it lives), sent through the outbox to the owning and the
stewarding team's event webhooks (Standard Webhooks, workers/channels/webhook.py).

The one home of an event's payload: revocation (services/path_retirement.revoke_locked), expiry
(services/path_retirement.path_expire and the sweep) and lapse (the sweep) all build it here. It
names the credential by every live identifier (key ids, principals, client ids,
fingerprints): names, never a credential (identifiers refuse credential-shaped values
when they are recorded).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from registry.models import AccessPath, CredentialIdentifier, Team
from registry.notifications.outbox import Notice, queue
from registry.rules.links import path_url
from registry.rules.recipients import Recipient, who_hears

# The path columns an event needs (the sweep reads them with .values()).
EVENT_FIELDS = (
    "id", "name", "kind", "system", "environment", "external_id", "owner_team_id",
    "steward_team_id",
)  # fmt: skip


def identifiers_by_path(path_ids: Iterable[Any]) -> dict[Any, list[dict[str, str]]]:
    """Live identifiers of many paths in one query: {path id: [{kind, value}]}."""
    found: dict[Any, list[dict[str, str]]] = defaultdict(list)
    rows = (
        CredentialIdentifier.objects.filter(path_id__in=list(path_ids), retired_at__isnull=True)
        .order_by("path_id", "kind", "value")
        .values_list("path_id", "kind", "value")
    )
    for path_id, kind, value in rows:
        found[path_id].append({"kind": kind, "value": value})
    return found


def event_payload(
    row: Mapping[str, Any],
    event: str,
    *,
    identifiers: list[dict[str, str]],
    teams: Mapping[int, Team],
    occurred_at: dt.datetime,
    stage: int = 0,
) -> dict[str, Any]:
    """A notification payload for `event` about the path in `row` (EVENT_FIELDS).
    `path` is what the webhook sends as its `data`; `occurred_at` its `timestamp`."""

    def slug(team_id: int | None) -> str | None:
        if team_id is None or team_id not in teams:
            return None
        return teams[team_id].slug

    when = occurred_at.isoformat()
    data = {
        "id": str(row["id"]),
        "name": row["name"],
        "kind": row["kind"],
        "system": row["system"],
        "environment": row["environment"],
        "external_id": row["external_id"],
        "owner_team": slug(row["owner_team_id"]),
        "steward_team": slug(row["steward_team_id"]),
        "identifiers": identifiers,
        "occurred_at": when,
        "url": path_url(row["id"]),
    }
    return {"path": data, "reason": event, "stage": stage, "occurred_at": when}


def event_notices(
    rows: Iterable[Mapping[str, Any]],
    event: str,
    *,
    teams: Mapping[int, Team],
    cycle_of,
    occurred_at_of,
    stage: int = 0,
) -> list[Notice]:
    """The event for each path, to its owner's and its steward's webhooks (either may
    revoke downstream). One identifiers query for all the rows, none when no recipient
    has an event webhook. `cycle_of(row)` and `occurred_at_of(row)` give the outbox
    cycle and the moment it happened."""

    with_webhook = {pk for pk, team in teams.items() if team.event_webhook_url}

    def recipients(row: Mapping[str, Any]) -> list[Recipient]:
        return who_hears(
            event,
            stage,
            owner_id=row["owner_team_id"],
            steward_id=row["steward_team_id"],
            security_ids=(),
            event_team_ids=with_webhook,
        )

    rows = [row for row in rows if recipients(row)]
    if not rows:
        return []
    identifiers = identifiers_by_path(row["id"] for row in rows)
    notices = []
    for row in rows:
        payload = event_payload(
            row,
            event,
            identifiers=identifiers.get(row["id"], []),
            teams=teams,
            occurred_at=occurred_at_of(row),
            stage=stage,
        )
        notices += [
            Notice(
                team_id=recipient.team_id,
                audience=recipient.audience,
                path_id=row["id"],
                reason=event,
                cycle=cycle_of(row),
                stage=stage,
                payload=payload,
            )
            for recipient in recipients(row)
        ]
    return notices


def publish_path_event(
    path: AccessPath,
    event: str,
    *,
    cycle: dt.datetime,
    occurred_at: dt.datetime,
    now: dt.datetime,
) -> int:
    """Queue `event` about one path (in the caller's transaction); returns rows queued."""
    row = {name: getattr(path, name) for name in EVENT_FIELDS}
    recipients = {path.owner_team_id, path.steward_team_id} - {None}
    if not recipients:
        return 0
    teams = Team.objects.in_bulk(recipients)
    notices = event_notices(
        [row], event, teams=teams, cycle_of=lambda r: cycle, occurred_at_of=lambda r: occurred_at
    )
    return queue(notices, teams=teams, now=now, event=True)
