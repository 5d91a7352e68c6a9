"""What a notification says, in words: shared by digests, pages, the timeline and the
coming-reminders page. Days left are counted from dates (rules/status.days_left), not
read off which reminder fired: a path registered 10 days before its expiry gets the
14-day reminder, which says "in 10 days"."""

from __future__ import annotations

import datetime as dt

from registry.models import Notification
from registry.rules import status
from registry.rules.policies import Policy

Reason = Notification.Reason
Status = status.Status

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


def _in_days(due_at: str | None, at: dt.datetime | None, stage: int) -> str:
    """ "in 10 days", "tomorrow", "today": from the dates when both are known."""
    days = stage
    if due_at and at is not None:
        days = status.days_left(dt.datetime.fromisoformat(due_at), at)
    if days <= 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"


def describe(reason: str, stage: int, payload: dict, *, at: dt.datetime | None = None) -> str:
    """`at`: when the notice is (or will be) sent, for the days it announces."""
    due = _date(payload.get("due_at"))
    match reason:
        case Reason.REVIEW_REMINDER:
            return f"Review due {_in_days(payload.get('due_at'), at, stage)} ({due}): attest it."
        case Reason.EXPIRY_REMINDER:
            when = _in_days(payload.get("due_at"), at, stage)
            return f"Expires {when} ({due}): renew or retire it."
        case Reason.REVIEW_OVERDUE:
            return f"Review overdue since {due}; {_STAGE_WORDS.get(stage, '')}."
        case Reason.LAPSED:
            return f"Lapsed: review overdue since {due}. Revocation recommended."
        case Reason.OWNER_UNACCOUNTABLE:
            return "Lapsed: its owning team is inactive or has no members (offboarding)."
        case Reason.UNOWNED:
            return f"Unowned since {_date(payload.get('unowned_since'))}: claim it or retire it."
        case Reason.UNCLAIMED:
            return f"Still unowned since {_date(payload.get('unowned_since'))}: escalated."
        case Reason.CLAIM_REQUESTED:
            return "A team has claimed this path and waits for a security review."
        case Reason.TRANSFER_REQUESTED:
            return "This path is offered to your team: accept or decline it."
        case Reason.CLAIM_WAITING:
            return f"A claim has waited since {_date(payload.get('waiting_since'))} for review."
        case Reason.TRANSFER_WAITING:
            return (
                f"A transfer to your team has waited since "
                f"{_date(payload.get('waiting_since'))}: accept or decline it."
            )
        case Reason.EXPIRED:
            return (
                f"Expired on {_date(payload.get('expired_at'))}: make sure it is revoked "
                "downstream."
            )
        case Reason.CHANGE_REQUEST:
            fields = ", ".join(sorted(payload.get("changes", {})))
            return (
                f"{payload.get('requested_by', 'Someone')} asks to change {fields}: it waits "
                "for your approval on the path's page."
            )
        case Reason.SIGNOFF_REQUEST:
            return describe_signoff(payload)
        case Reason.TRIAGE:
            return (
                f"Looked up in triage by {payload.get('looked_up_by', 'someone')} "
                f"(by {payload.get('kind', 'identifier')}): if this credential leaked, follow "
                "its revocation plan."
            )
        case Reason.INCIDENT:
            return describe_incident(stage, payload)
        case Reason.CHANNEL_TEST:
            return "Test message from NHI Registry: this channel works."
        case Reason.SOURCE_UNCONFIRMED:
            return (
                f"Retired here on {_date(payload.get('since'))} and still not confirmed "
                "disabled at the source: make sure the credential no longer works."
            )
        case Reason.SOURCE_STILL_LISTED:
            return (
                f"A full sync on {_date(payload.get('since'))} still lists this credential "
                "although it is retired here: disable it at the source."
            )
        case Reason.EVENT_EXPIRED | Reason.EVENT_LAPSED | Reason.EVENT_REVOKED:
            return f"Event {reason}."
    return reason


def describe_signoff(payload: dict) -> str:
    """An agent's action waiting for a person's sign-off, or the decision on it."""
    what = f"{payload.get('recorded_by', 'An agent')}'s action {payload.get('action', '?')!r}"
    if decision := payload.get("decision"):
        by = payload.get("decided_by", "a lead")
        return f"{what} was {'signed off' if decision == 'approved' else 'refused'} by {by}."
    why = "; ".join(payload.get("reasons", [])) or "it crossed a threshold"
    return (
        f"{what} waits for your sign-off ({why}): approve or reject it in the sign-off "
        "queue, with the policy's rollback path at hand."
    )


_INCIDENT_RUNGS = {
    2: "escalated to the team's leads",
    3: "escalated to security",
}


def describe_incident(stage: int, payload: dict) -> str:
    """A leak incident's notice: what leaked and when, what to do, where to record it."""
    incident = payload.get("incident", {})
    at = incident.get("detected_at")
    when = dt.datetime.fromisoformat(at).strftime("%-d %b %Y %H:%M UTC") if at else "?"
    what = incident.get("secret_type") or "credential"
    head = f"Leak incident #{incident.get('id', '?')} ({what}, detected {when})"
    act = "disable it at the source (its revocation plan), then mark the incident contained"
    if stage in _INCIDENT_RUNGS:
        hours = payload.get("after_hours", "?")
        return f"{head} still open after {hours} h: {_INCIDENT_RUNGS[stage]}; {act}: " + (
            incident.get("url", "")
        )
    return f"{head}: {act}: {incident.get('url', '')}"


def describe_notification(notification: Notification) -> str:
    return describe(
        notification.reason, notification.stage, notification.payload, at=notification.created_at
    )


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%-d %b %Y") if value else "?"


def status_reason(path, *, now: dt.datetime, policy: Policy) -> str:
    """Why a path has its status, in words ("overdue since 12 Nov 2026, escalated to the
    team's leads"). `path` carries the `status` annotation of the selectors."""
    match path.status:
        case Status.UNOWNED:
            return f"unowned since {_day(path.state_changed_at)}: claim it or retire it"
        case Status.CLAIM_PENDING:
            return "a team's claim waits for a security reviewer"
        case Status.ACTIVE:
            attested = (
                f"last attested {_day(path.last_attested_at)}"
                if path.last_attested_at
                else "not attested yet"
            )
            return f"{attested}; next review due {_day(path.next_review_at)}"
        case Status.REVIEW_DUE:
            when = _in_days(path.next_review_at.isoformat(), now, 0)
            return f"review due {_day(path.next_review_at)} ({when}): attest it"
        case Status.OVERDUE:
            stage = _STAGE_WORDS.get(path.escalation_stage, "not yet escalated")
            return f"overdue since {_day(path.next_review_at)}, {stage}"
        case Status.LAPSED:
            if status.lapsed_by_age(path, now=now, policy=policy):
                return (
                    f"lapsed: overdue since {_day(path.next_review_at)}; in security's "
                    "queue, revocation recommended"
                )
            return "lapsed: its owning team is inactive or has no members (offboarding)"
        case Status.EXPIRED:
            return f"expired on {_day(path.expires_at)}; disabled at the source"
        case Status.REVOKED:
            return f"revoked on {_day(path.state_changed_at)}; disabled at the source"
        case Status.AWAITING_SOURCE:
            if path.state == "revoked":
                retired = f"revoked here on {_day(path.state_changed_at)}"
            else:
                retired = f"expired here on {_day(path.expires_at)}"
            return f"{retired}, not yet confirmed disabled at the source: it may still work"
    return path.status
