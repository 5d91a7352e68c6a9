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
        case "change_request":
            fields = ", ".join(sorted(payload.get("changes", {})))
            return (
                f"{payload.get('requested_by', 'Someone')} asks to change {fields}: it waits "
                "for your approval on the path's page."
            )
        case "triage":
            return (
                f"Looked up in triage by {payload.get('looked_up_by', 'someone')} "
                f"(by {payload.get('kind', 'identifier')}): if this credential leaked, follow "
                "its revocation plan."
            )
        case "incident":
            return describe_incident(stage, payload)
        case "channel_test":
            return "Test message from NHI Registry: this channel works."
        case "source_unconfirmed":
            return (
                f"Retired here on {_date(payload.get('since'))} and still not confirmed "
                "disabled at the source: make sure the credential no longer works."
            )
        case "source_still_listed":
            return (
                f"A full sync on {_date(payload.get('since'))} still lists this credential "
                "although it is retired here: disable it at the source."
            )
        case "access_path.expired" | "access_path.lapsed" | "access_path.revoked":
            return f"Event {reason}."
    return reason


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
    return describe(notification.reason, notification.stage, notification.payload)


def path_url(path_id: object) -> str:
    return f"{settings.BASE_URL}/paths/{path_id}/"


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%-d %b %Y") if value else "?"


def status_reason(path, *, now: dt.datetime, lapse_after: dt.timedelta) -> str:
    """Why a path has its status, in words ("overdue since 12 Nov 2026, escalated to the
    team's leads"). `path` carries the `status` annotation of the selectors."""
    match path.status:
        case "unowned":
            return f"unowned since {_day(path.state_changed_at)}: claim it or retire it"
        case "claim_pending":
            return "a team's claim waits for a security reviewer"
        case "active":
            attested = (
                f"last attested {_day(path.last_attested_at)}"
                if path.last_attested_at
                else "not attested yet"
            )
            return f"{attested}; next review due {_day(path.next_review_at)}"
        case "review_due":
            days = max((path.next_review_at - now).days, 0)
            return f"review due {_day(path.next_review_at)} (in {days} days): attest it"
        case "overdue":
            stage = _STAGE_WORDS.get(path.escalation_stage, "not yet escalated")
            return f"overdue since {_day(path.next_review_at)}, {stage}"
        case "lapsed":
            if path.next_review_at and path.next_review_at <= now - lapse_after:
                return (
                    f"lapsed: overdue since {_day(path.next_review_at)}; in security's "
                    "queue, revocation recommended"
                )
            return "lapsed: its owning team is inactive or has no members (offboarding)"
        case "expired":
            return f"expired on {_day(path.expires_at)}; disabled at the source"
        case "revoked":
            return f"revoked on {_day(path.state_changed_at)}; disabled at the source"
        case "awaiting_source":
            if path.state == "revoked":
                retired = f"revoked here on {_day(path.state_changed_at)}"
            else:
                retired = f"expired here on {_day(path.expires_at)}"
            return f"{retired}, not yet confirmed disabled at the source: it may still work"
    return path.status
