"""What a notification says, in words: shared by digests, pages and the timeline."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from registry.models import Notification

_STAGE_WORDS = {
    1: "the owning team was told",
    2: "escalated to the team's leads",
    3: "escalated to security",
    4: "lapsed: revocation recommended",
}


def _date(value: str | None) -> str:
    if not value:
        return "?"
    return dt.datetime.fromisoformat(value).strftime("%-d %b %Y")


def describe(reason: str, stage: int, payload: dict) -> str:
    due = _date(payload.get("due_at"))
    match reason:
        case "review_reminder":
            return f"Review due in {stage} day{'s' if stage != 1 else ''} ({due}): attest it."
        case "expiry_reminder":
            return f"Expires in {stage} day{'s' if stage != 1 else ''} ({due}): renew or retire it."
        case "review_overdue":
            return f"Review overdue since {due}; {_STAGE_WORDS.get(stage, '')}."
        case "lapsed":
            return f"Lapsed: review overdue since {due}. Revocation recommended."
        case "owner_unaccountable":
            return "Lapsed: its owning team is inactive or has no members (offboarding)."
        case "unowned":
            return f"Unowned since {_date(payload.get('unowned_since'))}: claim it or retire it."
        case "unclaimed":
            return f"Still unowned since {_date(payload.get('unowned_since'))}: escalated."
        case "claim_requested":
            return "A team has claimed this path and waits for a security review."
        case "transfer_requested":
            return "This path is offered to your team: accept or decline it."
        case "claim_waiting":
            return f"A claim has waited since {_date(payload.get('waiting_since'))} for review."
        case "transfer_waiting":
            return (
                f"A transfer to your team has waited since "
                f"{_date(payload.get('waiting_since'))}: accept or decline it."
            )
        case "expired":
            return (
                f"Expired on {_date(payload.get('expired_at'))}: make sure it is revoked "
                "downstream."
            )
        case "access_path.expired" | "access_path.lapsed":
            return f"Event {reason}."
    return reason


def describe_notification(notification: Notification) -> str:
    return describe(notification.reason, notification.stage, notification.payload)


def path_url(path_id: object) -> str:
    return f"{settings.BASE_URL}/paths/{path_id}/"
