"""Triage lookups: the read (registry/selectors/triage.py), audited, and the owning team told."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from registry.audit import audit_record, no_such_object
from registry.models import CredentialIdentifier, Notification
from registry.notifications.outbox import Audience, Notice, path_summary, queue
from registry.rules.actors import Actor
from registry.selectors.triage import Answer, parse_query, triage_find
from registry.services._common import resolve_now

ACTION = "triage.looked_up"
REASON = Notification.Reason.TRIAGE


@transaction.atomic
def triage_lookup(
    *, actor: Actor, value: Any, kind: Any = None, now: dt.datetime | None = None
) -> Answer:
    """Answer a lookup (any signed-in person or integration), record it in the audit
    trail (what kind was looked up, the normalised value, who, the matches) and queue a
    `triage` notice to each matched path's team, in the same transaction."""
    now = resolve_now(now)
    query = parse_query(value, kind)
    answer = triage_find(actor=actor, query=query, now=now)
    first = answer.paths[0] if answer.paths else None
    audit_record(
        actor=actor,
        action=ACTION,
        obj=first if first is not None else no_such_object(CredentialIdentifier),
        now=now,
        changes={
            "kind": [None, query.kind or "any"],
            "identifier": [None, query.value],
            "matches": [None, [str(p.pk) for p in answer.paths]],
            "visible": [None, [str(p.pk) for p in answer.paths if p.visible]],
        },
    )
    notices = [
        Notice(
            team_id=team.pk,
            audience=Audience.MEMBERS,
            path_id=path.pk,
            reason=REASON,
            cycle=now,
            payload={
                "path": path_summary(path),
                "reason": REASON,
                "looked_up_by": actor.label,
                "kind": query.kind or "any",
                "at": now.isoformat(),
            },
        )
        for path in answer.paths
        if (team := answer.route_teams.get(path.pk)) is not None and team.is_active
    ]
    if notices:
        teams = {t.pk: t for t in answer.route_teams.values()}
        queue(notices, teams=teams, now=now)
    return answer
