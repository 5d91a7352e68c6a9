"""Leak incidents: open (by a person, or from a scanner's alert), contain, close, link.

Every step locks the incident, checks who may act (registry.rules.permissions), writes by
compare-and-set on `version` and appends its audit event (object_type "incident", on
the path's timeline too) in the same transaction. Opening runs the first rung of the
ladder at once (services/incident_ladder.py): the owning team is told in the same
transaction, through the outbox.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, transaction

from registry.audit import audit_record
from registry.models import AccessPath, Incident
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, StaleVersion
from registry.rules.permissions import (
    refuse_incident_close,
    refuse_incident_contain,
    refuse_incident_link,
)
from registry.rules.policies import current_policy
from registry.rules.validation import secret_errors
from registry.selectors.incidents import Match, match_credential
from registry.selectors.triage import parse_query
from registry.services._common import refuse_if, require_text, resolve_now
from registry.services.incident_ladder import climb
from registry.services.tallies import refresh_facts

State = Incident.State
Detection = Incident.Detection
# Clocks differ: a scanner's timestamp a little ahead of ours is not "in the future".
CLOCK_SKEW = dt.timedelta(minutes=5)
_SOURCE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What a person may say about how they learnt of a leak (alerts come through intakes).
MANUAL_DETECTIONS = (Detection.MANUAL, Detection.PARTNER)
# Alert actions that say nothing new about an incident already opened.
REDELIVERY = "created"


@dataclass(frozen=True)
class Alert:
    """A scanner's alert, as the intakes read it. `identifier`/`fingerprint` name the
    credential (never the credential itself); `details` are the scanner's own facts
    about the alert (state, resolution, validity…), recorded as they come."""

    source: str
    external_ref: str
    action: str
    detected_at: dt.datetime
    detection: str = Detection.SECRET_SCANNING
    alert_url: str = ""
    secret_type: str = ""
    location: str = ""
    summary: str = ""
    fingerprint: str = ""
    identifier: str = ""
    kind: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _check_text(values: dict[str, str]) -> dict[str, str]:
    """Free text from a reporter or a scanner: trimmed, cut to the column, and never a
    credential (the field is named, the value is not echoed)."""
    cleaned = {}
    for name, value in values.items():
        text = (value or "").strip()
        column = Incident._meta.get_field(name)
        limit = column.max_length if isinstance(column, models.Field) else None
        cleaned[name] = text[:limit] if limit else text
    if found := secret_errors(cleaned):
        raise Invalid(found)
    url = cleaned.get("alert_url", "")
    if url and not url.lower().startswith(("https://", "http://")):
        raise Invalid.single("alert_url", errors.INCIDENT_URL)
    return cleaned


def _check_detected_at(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value > now + CLOCK_SKEW:
        raise Invalid.single("detected_at", errors.INCIDENT_DETECTED_IN_FUTURE)
    return value


def _lookup(identifier: str, kind: str | None, fingerprint: str = "") -> tuple[Match, dict]:
    """The path an identifier or fingerprint names, and what to record about the lookup
    (the normalised identifier: security needs it to link an unmatched alert)."""
    if fingerprint:
        query = parse_query(fingerprint, "fingerprint")
    else:
        query = parse_query(identifier, kind)
    match = match_credential(kind=query.kind, value=query.value)
    return match, {
        "identifier_kind": [None, query.kind or "any"],
        "identifier": [None, query.value],
        "candidates": [None, match.candidates],
    }


def _create(
    *,
    actor: Actor,
    now: dt.datetime,
    path: AccessPath | None,
    matched_by: str,
    values: dict[str, Any],
    lookup: dict,
) -> Incident:
    incident = Incident.objects.create(
        path=path,
        matched_by=matched_by,
        reported_by=actor.user,
        reported_by_label=actor.label[:200],
        created_at=now,
        updated_at=now,
        **values,
    )
    facts = {
        "state": State.OPEN,
        "detection": incident.detection,
        "detected_at": incident.detected_at,
        "source": incident.source,
        "external_ref": incident.external_ref,
        "alert_url": incident.alert_url,
        "secret_type": incident.secret_type,
        "location": incident.location,
        "matched_by": matched_by,
        "path": str(path.pk) if path else None,
    }
    audit_record(
        actor=actor,
        action="incident.opened",
        obj=incident,
        path=path,
        now=now,
        changes={k: [None, v] for k, v in facts.items() if v not in ("", None)} | lookup,
        reason=incident.summary,
    )
    _refresh_path_facts(incident, now)
    if path is not None:
        # The first rung at once, in this transaction: the owning team hears now.
        climb(now=now, policy=current_policy(), actor=actor, incident_ids=[incident.pk])
        incident.refresh_from_db(fields=["escalation_stage"])
    return incident


@transaction.atomic
def incident_open(
    *,
    actor: Actor,
    path: AccessPath | None = None,
    identifier: str = "",
    kind: str | None = None,
    detection: str = Detection.MANUAL,
    detected_at: dt.datetime | None = None,
    summary: str = "",
    location: str = "",
    alert_url: str = "",
    secret_type: str = "",
    now: dt.datetime | None = None,
) -> Incident:
    """A person (or an integration) reports a leak: of a path they can see (the caller
    resolved it within their visibility), or of a credential they hold an identifier
    of. Anyone signed in may report; an identifier that names no registered path (or
    several) opens an unmatched incident for security to link."""
    now = resolve_now(now)
    if detection not in MANUAL_DETECTIONS:
        raise Invalid.single("detection", errors.INCIDENT_DETECTION_MANUAL)
    text = _check_text(
        {
            "summary": summary,
            "location": location,
            "alert_url": alert_url,
            "secret_type": secret_type,
        }
    )
    when = _check_detected_at(detected_at, now)
    lookup: dict = {}
    if path is not None:
        matched_by = "path"
    elif (identifier or "").strip():
        match, lookup = _lookup(identifier, kind)
        path, matched_by = match.path, match.matched_by
    else:
        raise Invalid.single("path", errors.INCIDENT_NEEDS_A_TARGET)
    return _create(
        actor=actor,
        now=now,
        path=path,
        matched_by=matched_by,
        values={"detection": detection, "detected_at": when, **text},
        lookup=lookup,
    )


@transaction.atomic
def incident_from_alert(
    *, actor: Actor, alert: Alert, now: dt.datetime | None = None
) -> tuple[Incident, bool]:
    """Open the incident of a scanner's alert, or record what the alert now says on the
    incident already opened for it (source, external_ref). Returns (incident, created).

    An alert's later states are facts, not decisions: a "resolved" alert is recorded
    (`incident.alert_updated`) and does not contain or close the incident, which only
    its team (or security) does, because the scanner cannot know whether the credential
    was disabled where it works. A redelivered "created" changes nothing."""
    now = resolve_now(now)
    if not _SOURCE.match(alert.source or ""):
        raise Invalid.single("source", errors.INCIDENT_BAD_SOURCE)
    ref = require_text("external_ref", alert.external_ref)[:300]
    existing = Incident.objects.select_for_update().filter(source=alert.source, external_ref=ref)
    incident = existing.first()
    if incident is None:
        text = _check_text(
            {
                "summary": alert.summary,
                "location": alert.location,
                "alert_url": alert.alert_url,
                "secret_type": alert.secret_type,
            }
        )
        when = _check_detected_at(alert.detected_at, now)
        match = Match(None, "", 0)
        lookup: dict[str, Any] = {}
        if alert.fingerprint or alert.identifier:
            match, lookup = _lookup(alert.identifier, alert.kind, alert.fingerprint)
        lookup["alert_action"] = [None, alert.action]
        try:
            # A concurrent delivery of the same alert may win the unique key: then this
            # one is an update of the incident it opened.
            with transaction.atomic():
                incident = _create(
                    actor=actor,
                    now=now,
                    path=match.path,
                    matched_by=match.matched_by,
                    values={
                        "detection": alert.detection,
                        "detected_at": when,
                        "source": alert.source,
                        "external_ref": ref,
                        **text,
                    },
                    lookup=lookup,
                )
            return incident, True
        except IntegrityError:
            incident = existing.get()
    if alert.action == REDELIVERY:
        return incident, False
    _alert_updated(actor=actor, incident=incident, alert=alert, now=now)
    return incident, False


def _alert_updated(*, actor: Actor, incident: Incident, alert: Alert, now: dt.datetime) -> None:
    details = {k: v for k, v in alert.details.items() if v not in (None, "")}
    if found := secret_errors({k: str(v) for k, v in details.items()}):
        raise Invalid(found)
    _save(incident, {}, now=now)
    audit_record(
        actor=actor,
        action="incident.alert_updated",
        obj=incident,
        path=incident.path,
        now=now,
        changes={"alert_action": [None, alert.action]} | {k: [None, v] for k, v in details.items()},
        reason=(
            f"The {alert.source} alert says '{alert.action}'. The incident stays "
            f"{incident.state}: containing and closing it are its team's decisions."
        ),
    )


def _refresh_path_facts(incident: Incident, now: dt.datetime) -> None:
    """An incident's path breaks NHI2 while the incident is open (rules/posture.py): its
    opening, linking, containing and closing reclassify the path in this transaction,
    so the dashboard's count stays exact."""
    if incident.path_id is not None:
        refresh_facts([incident.path_id], now=now)


# --- transitions ---------------------------------------------------------------------


def _lock(incident: Incident, expected_version: int | None) -> Incident:
    locked = (
        Incident.objects.select_for_update(of=("self",)).select_related("path").get(pk=incident.pk)
    )
    if expected_version is not None and expected_version != locked.version:
        raise StaleVersion(
            errors.INCIDENT_STALE.format(expected=expected_version, actual=locked.version)
        )
    return locked


def _save(incident: Incident, changes: dict[str, Any], *, now: dt.datetime) -> dict:
    """Write by compare-and-set on the version; return the audit diff."""
    before = {key: getattr(incident, key) for key in changes}
    values = {**changes, "version": incident.version + 1, "updated_at": now}
    updated = Incident.objects.filter(pk=incident.pk, version=incident.version).update(**values)
    if updated != 1:
        raise InvalidTransition(errors.INCIDENT_CHANGED_CONCURRENTLY)
    for key, value in values.items():
        setattr(incident, key, value)
    return {key: [before[key], changes[key]] for key in changes}


@transaction.atomic
def incident_contain(
    *,
    actor: Actor,
    incident: Incident,
    expected_version: int | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Incident:
    """The credential is disabled at the source: the clock of time-to-contain stops and
    the ladder stops climbing."""
    now = resolve_now(now)
    incident = _lock(incident, expected_version)
    refuse_if(refuse_incident_contain(actor, incident.path))
    if incident.state != State.OPEN:
        raise InvalidTransition(errors.INCIDENT_NOT_OPEN.format(state=incident.state))
    note = _check_text({"summary": note})["summary"]
    changes = _save(
        incident,
        {
            "state": State.CONTAINED,
            "contained_at": now,
            "contained_by_label": actor.label[:200],
        },
        now=now,
    )
    audit_record(
        actor=actor,
        action="incident.contained",
        obj=incident,
        path=incident.path,
        now=now,
        changes=changes,
        reason=note,
    )
    _refresh_path_facts(incident, now)
    return incident


@transaction.atomic
def incident_close(
    *,
    actor: Actor,
    incident: Incident,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Contained -> closed (the team, with what was done); open -> closed only by
    security, for an alert that was no leak (a false positive, a test credential). A
    reason is always required: it is the incident's conclusion."""
    now = resolve_now(now)
    incident = _lock(incident, expected_version)
    if incident.state == State.CLOSED:
        raise InvalidTransition(errors.INCIDENT_ALREADY_CLOSED)
    still_open = incident.state == State.OPEN
    refuse_if(refuse_incident_close(actor, incident.path, still_open=still_open))
    why = require_text("reason", reason)
    changes = _save(
        incident,
        {"state": State.CLOSED, "closed_at": now, "closed_by_label": actor.label[:200]},
        now=now,
    )
    audit_record(
        actor=actor,
        action="incident.closed",
        obj=incident,
        path=incident.path,
        now=now,
        changes=changes,
        reason=why,
    )
    _refresh_path_facts(incident, now)
    return incident


@transaction.atomic
def incident_link_path(
    *,
    actor: Actor,
    incident: Incident,
    path: AccessPath,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Security names the path of an alert that matched none. The path's team is then
    told at once, and the ladder climbs from the detection time like any other."""
    now = resolve_now(now)
    refuse_if(refuse_incident_link(actor))
    incident = _lock(incident, expected_version)
    if incident.path_id is not None:
        raise InvalidTransition(errors.INCIDENT_ALREADY_LINKED)
    changes = _save(incident, {"path": path, "matched_by": "linked"}, now=now)
    audit_record(
        actor=actor,
        action="incident.linked",
        obj=incident,
        path=path,
        now=now,
        changes={"path": [None, str(path.pk)], "matched_by": changes["matched_by"]},
    )
    _refresh_path_facts(incident, now)
    if incident.state == State.OPEN:
        climb(now=now, policy=current_policy(), actor=actor, incident_ids=[incident.pk])
        incident.refresh_from_db(fields=["escalation_stage"])
    return incident
