"""Who hears what: for each reason (and ladder stage) of a notice about a path, which
teams are told and which audience in them. The sweep queues by it and the
coming-reminders page predicts by it, so the two cannot disagree about a recipient.

The overdue ladder: stage 1 the owning team, 2 its leads, 3 security, 4 (lapsed)
security and the owning team. Expiry notices go to the owner, or to the steward while
nobody owns the path; unowned and offboarded paths to the steward and security; events
to the owner's and the steward's event webhooks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from registry.models import Notification

Reason = Notification.Reason
Audience = Notification.Audience

EVENTS = (Reason.EVENT_REVOKED, Reason.EVENT_EXPIRED, Reason.EVENT_LAPSED)


@dataclass(frozen=True)
class Recipient:
    team_id: int
    audience: str = Audience.MEMBERS


def who_hears(
    reason: str,
    stage: int,
    *,
    owner_id: int | None,
    steward_id: int | None,
    security_ids: Sequence[int],
    event_team_ids: Collection[int] = (),
    to_team_id: int | None = None,
) -> list[Recipient]:
    """The recipients of one notice. `event_team_ids`: the teams with an event webhook;
    `to_team_id`: the team a transfer is offered to."""
    security = [Recipient(team_id) for team_id in security_ids]
    owner = [Recipient(owner_id)] if owner_id else []
    steward = [Recipient(steward_id)] if steward_id else []
    match reason:
        case Reason.REVIEW_REMINDER:
            return owner
        case Reason.EXPIRY_REMINDER | Reason.EXPIRED:
            return owner or steward
        case Reason.REVIEW_OVERDUE if stage == 1:
            return owner
        case Reason.REVIEW_OVERDUE if stage == 2:
            return [Recipient(r.team_id, Audience.LEADS) for r in owner]
        case Reason.REVIEW_OVERDUE:
            return security
        case Reason.LAPSED:
            return security + owner
        case Reason.OWNER_UNACCOUNTABLE | Reason.UNOWNED | Reason.UNCLAIMED:
            return security + steward
        case (
            Reason.CLAIM_REQUESTED
            | Reason.CLAIM_WAITING
            | Reason.SOURCE_UNCONFIRMED
            | Reason.SOURCE_STILL_LISTED
        ):
            return security
        case Reason.TRANSFER_REQUESTED | Reason.TRANSFER_WAITING:
            return [Recipient(to_team_id)] if to_team_id else []
        case _ if reason in EVENTS:
            wanted = {t for t in (owner_id, steward_id) if t is not None}
            return [Recipient(t) for t in sorted(t for t in wanted if t in event_team_ids)]
    raise ValueError(f"no recipients rule for {reason!r}")
