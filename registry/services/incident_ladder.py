"""The incident ladder: an open leak climbs on an hours scale (Policy.incident_escalation_hours).

Stage 1 tells the owning team (the steward for an unowned path) as soon as the incident
is opened, stage 2 its leads, stage 3 security. A team that cannot hear (none, or
inactive) is replaced by security. Contained and closed incidents stop climbing;
incidents that name no path have nobody to climb to and wait in security's list.

Set-based and safe on concurrent sweeps, like the path ladder (services/sweep.py): each
batch of due incidents is claimed with SELECT … FOR UPDATE SKIP LOCKED, advanced by
compare-and-set on `escalation_stage` (one UPDATE per stage reached, not per row),
audited with one `audit_record_many` and told through the outbox, whose unique key
(team, audience, channel, path, reason, cycle = detected_at, stage) is the last defence
against a notice sent twice. A sweep that missed a rung sends every rung passed: each
rung has other recipients, so none of them is skipped.

The ladder does not bump the incident's `version`: it is bookkeeping, and a person's
contain or close based on the page they read must not fail because time passed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Protocol

from django.db.models import Q

from registry.audit import AuditEntry, audit_record_many
from registry.models import AccessPath, Incident, Notification, Team
from registry.notifications.outbox import Audience, Notice, path_summary, queue
from registry.rules.actors import Actor
from registry.rules.links import incident_url
from registry.rules.policies import Policy
from registry.services._common import claimed_batches

REASON = Notification.Reason.INCIDENT
ESCALATED = "incident.escalated"
_FIELDS = (
    "id",
    "escalation_stage",
    "detected_at",
    "detection",
    "secret_type",
    "path_id",
    "path__name",
    "path__system",
    "path__environment",
    "path__owner_team_id",
    "path__steward_team_id",
)


class SweepRun(Protocol):
    now: dt.datetime
    policy: Policy
    actor: Actor
    summary: Counter


def climb_incident_ladder(run: SweepRun) -> None:
    """The sweep's step (registry/services/sweep.py)."""
    run.summary.update(climb(now=run.now, policy=run.policy, actor=run.actor))


def due_q(now: dt.datetime, policy: Policy) -> Q:
    """Open incidents of a path whose stage is below the one their age has reached
    (the incident_open index: open incidents by detection time)."""
    reached = Q()
    for stage, hours in enumerate(policy.incident_escalation_hours, start=1):
        reached |= Q(detected_at__lte=now - dt.timedelta(hours=hours), escalation_stage__lt=stage)
    return Q(state=Incident.State.OPEN, path__isnull=False) & reached


def climb(
    *,
    now: dt.datetime,
    policy: Policy,
    actor: Actor,
    incident_ids: Iterable[int] | None = None,
) -> Counter:
    """Advance every due incident (or only `incident_ids`: opening one runs its first
    rung at once) to the stage its age has reached; return what was done."""
    summary: Counter = Counter()
    due = Incident.objects.filter(due_q(now, policy))
    if incident_ids is not None:
        due = due.filter(pk__in=list(incident_ids))
    for rows in claimed_batches(due, _FIELDS):
        _advance(rows, now=now, policy=policy, actor=actor, summary=summary)
    return summary


def _payload(row: dict, rung: int, policy: Policy) -> dict:
    path = AccessPath(
        pk=row["path_id"],
        name=row["path__name"],
        system=row["path__system"],
        environment=row["path__environment"],
    )
    return {
        "path": path_summary(path),
        "reason": REASON,
        "stage": rung,
        "after_hours": policy.incident_escalation_hours[rung - 1],
        "incident": {
            "id": row["id"],
            "url": incident_url(row["id"]),
            "detection": row["detection"],
            "detected_at": row["detected_at"].isoformat(),
            "secret_type": row["secret_type"],
        },
    }


def _recipients(rung: int, team: Team | None, security: list[Team]) -> list[tuple[Team, str]]:
    if rung <= 2 and team is not None and team.is_active:
        return [(team, Audience.MEMBERS if rung == 1 else Audience.LEADS)]
    if rung == 2:
        return []  # nobody to lead: security hears at its own rung (or did at rung 1)
    return [(t, Audience.MEMBERS) for t in security]


def _advance(
    rows: list[dict], *, now: dt.datetime, policy: Policy, actor: Actor, summary: Counter
) -> None:
    route_ids = {row["path__owner_team_id"] or row["path__steward_team_id"] for row in rows}
    teams = {
        t.pk: t
        for t in Team.objects.filter(
            Q(pk__in=route_ids - {None}) | Q(kind=Team.Kind.SECURITY, is_active=True)
        )
    }
    security = sorted(
        (t for t in teams.values() if t.kind == Team.Kind.SECURITY and t.is_active),
        key=lambda t: t.slug,
    )
    notices: list[Notice] = []
    entries: list[AuditEntry] = []
    by_target: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        target = policy.incident_stage_for(now - row["detected_at"])
        current = row["escalation_stage"]
        team = teams.get(row["path__owner_team_id"] or row["path__steward_team_id"])
        told: list[str] = []
        for rung in range(current + 1, target + 1):
            for recipient, audience in _recipients(rung, team, security):
                notices.append(
                    Notice(
                        team_id=recipient.pk,
                        audience=audience,
                        path_id=row["path_id"],
                        reason=REASON,
                        cycle=row["detected_at"],
                        stage=rung,
                        payload=_payload(row, rung, policy),
                    )
                )
                told.append(f"{recipient.slug} ({audience})")
        by_target[target].append(row["id"])
        summary[f"incidents_escalated_to_stage_{target}"] += 1
        hours = (now - row["detected_at"]).total_seconds() / 3600
        entries.append(
            AuditEntry(
                action=ESCALATED,
                obj=Incident(pk=row["id"]),
                path=AccessPath(pk=row["path_id"]),
                changes={"escalation_stage": [current, target], "told": [None, told]},
                reason=f"Open {hours:.1f} h after detection.",
            )
        )
    for target, ids in by_target.items():
        updated = Incident.objects.filter(
            pk__in=ids, state=Incident.State.OPEN, escalation_stage__lt=target
        ).update(escalation_stage=target)
        if updated != len(ids):  # pragma: no cover - the rows are locked by us
            raise RuntimeError("incident escalation compare-and-set failed on locked rows")
    audit_record_many(actor=actor, now=now, entries=entries)
    summary["incident_notifications_queued"] += queue(notices, teams=teams, now=now)
