"""What the sweep will send: a team's coming reminders, predicted from the same rules
the sweep acts by (rules/status.py says when, rules/recipients.py who hears it,
notifications/wording.py what it says)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils import timezone

from registry.models import AccessPath, Claim, Notification, Team, Transfer
from registry.notifications.wording import describe
from registry.rules import status
from registry.rules.policies import Policy, current_policy
from registry.rules.recipients import Recipient, who_hears
from registry.selectors.teams import accountable_team_ids

Reason = Notification.Reason
# A preview is a page, not a report: this many paths (and claims, transfers) at most,
# by review date, paths without one (unowned, claimed, retired) first.
PREVIEW_PATHS = 2000


@dataclass(frozen=True)
class UpcomingReminder:
    at: dt.datetime
    path: AccessPath
    reason: str
    stage: int
    recipient: Recipient
    recipient_name: str
    what: str


def reminder_preview(
    *, team: Team, now: dt.datetime | None = None, days: int = 30, policy: Policy | None = None
) -> list[UpcomingReminder]:
    """What the sweep will send in the next `days` days, if nobody acts: every notice to
    `team`, and every notice about the paths it owns or stewards (whoever hears it), in
    order. Each sweep sends what fell due since the previous one."""
    now = now or timezone.now()
    policy = policy or current_policy()
    until = now + dt.timedelta(days=days)
    teams = {t.pk: t for t in Team.objects.all()}
    security_ids = [t.pk for t in teams.values() if t.kind == Team.Kind.SECURITY and t.is_active]
    context = _Context(
        team=team,
        teams=teams,
        security_ids=security_ids,
        event_team_ids={pk for pk, t in teams.items() if t.event_webhook_url},
    )
    accountable = accountable_team_ids()
    upcoming: list[UpcomingReminder] = []
    for path in _paths(team, now=now, until=until, policy=policy, security=team.pk in security_ids):
        for due in status.coming_notices(
            path,
            now=now,
            until=until,
            policy=policy,
            accountable=path.owner_team_id in accountable,
        ):
            upcoming += context.items(path, due, to_team_id=None)
    upcoming += _waiting(
        context, now=now, until=until, policy=policy, security=team.pk in security_ids
    )
    return sorted(upcoming, key=lambda r: (r.at, str(r.path.pk), r.reason, r.recipient.team_id))


@dataclass
class _Context:
    team: Team
    teams: dict[int, Team]
    security_ids: list[int]
    event_team_ids: set[int]

    def items(
        self, path: AccessPath, due: status.Due, *, to_team_id: int | None
    ) -> list[UpcomingReminder]:
        recipients = who_hears(
            due.reason,
            due.stage,
            owner_id=path.owner_team_id,
            steward_id=path.steward_team_id,
            security_ids=self.security_ids,
            event_team_ids=self.event_team_ids,
            to_team_id=to_team_id,
        )
        ours = self.team.pk in (path.owner_team_id, path.steward_team_id, to_team_id)
        what = describe(due.reason, due.stage, _payload(path, due), at=due.at)
        return [
            UpcomingReminder(
                at=due.at,
                path=path,
                reason=due.reason,
                stage=due.stage,
                recipient=r,
                recipient_name=_name(self.teams[r.team_id], r.audience),
                what=what,
            )
            for r in recipients
            if ours or r.team_id == self.team.pk
        ]


def _paths(
    team: Team, *, now: dt.datetime, until: dt.datetime, policy: Policy, security: bool
) -> Iterable[AccessPath]:
    """Paths with something due between now and `until`: reviews whose reminders or
    ladder fall in the window, expiries, unowned paths not yet escalated, retirements
    not yet flagged. Security hears about every team's paths; others about their own."""
    ahead = until + policy.review_window
    live = status.live_q(now)
    window = (
        (live & Q(state=AccessPath.State.ACTIVE, next_review_at__gt=now - policy.lapse_after))
        & Q(next_review_at__lte=ahead)
        | Q(state__in=status.LIVE_STATES, expires_at__gt=now, expires_at__lte=ahead)
        | (
            status.unowned_live_q(now)
            & Q(state_changed_at__gt=now - dt.timedelta(days=policy.unclaimed_escalation_days))
        )
        | (
            Q(state__in=status.RETIRED_STATES, source_disabled_at__isnull=True)
            & Q(state_changed_at__gt=status.unconfirmed_line(now, policy))
        )
    )
    paths = AccessPath.objects.filter(window)
    if not security:
        paths = paths.filter(Q(owner_team=team) | Q(steward_team=team))
    return paths.order_by(F("next_review_at").asc(nulls_first=True), "id")[:PREVIEW_PATHS]


def _waiting(
    context: _Context, *, now: dt.datetime, until: dt.datetime, policy: Policy, security: bool
) -> list[UpcomingReminder]:
    """Claims and transfers that will have waited long enough for a reminder (security
    hears of every claim; a team of transfers offered to it and requests on its paths).
    A path's expiry closes its requests first: no reminder after it."""
    team = context.team
    mine = Q(path__owner_team=team) | Q(path__steward_team=team)
    out: list[UpcomingReminder] = []
    claim_days = dt.timedelta(days=policy.claim_reminder_days)
    claims = Claim.objects.filter(
        status=Claim.Status.PENDING,
        created_at__gt=now - claim_days,
        created_at__lte=until - claim_days,
    )
    if not security:
        claims = claims.filter(mine)
    for claim in claims.select_related("path").order_by("created_at", "id")[:PREVIEW_PATHS]:
        since = claim.created_at
        due = status.Due(since + claim_days, Reason.CLAIM_WAITING, 0, since)
        if _before_expiry(claim.path, due):
            out += context.items(claim.path, due, to_team_id=None)
    transfer_days = dt.timedelta(days=policy.transfer_reminder_days)
    transfers = Transfer.objects.filter(
        status=Transfer.Status.PENDING,
        created_at__gt=now - transfer_days,
        created_at__lte=until - transfer_days,
    )
    if not security:
        transfers = transfers.filter(mine | Q(to_team=team))
    for transfer in transfers.select_related("path").order_by("created_at", "id")[:PREVIEW_PATHS]:
        since = transfer.created_at
        due = status.Due(since + transfer_days, Reason.TRANSFER_WAITING, 0, since)
        if _before_expiry(transfer.path, due):
            out += context.items(transfer.path, due, to_team_id=transfer.to_team_id)
    return out


def _before_expiry(path: AccessPath, due: status.Due) -> bool:
    return path.expires_at is None or due.at < path.expires_at


def _payload(path: AccessPath, due: status.Due) -> dict:
    """The payload fields the wording reads, as the sweep will fill them."""
    iso = due.due_at.isoformat() if due.due_at else None
    retired = path.state in status.RETIRED_STATES
    since = path.state_changed_at if retired or path.expires_at is None else path.expires_at
    return {
        "due_at": iso,
        "expired_at": iso,
        "waiting_since": iso,
        "unowned_since": path.state_changed_at.isoformat(),
        "since": since.isoformat(),
    }


def _name(team: Team, audience: str) -> str:
    return f"{team.name} (leads)" if audience == Notification.Audience.LEADS else team.name
