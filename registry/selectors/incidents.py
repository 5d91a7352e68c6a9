"""Leak incidents, read (selectors): who sees which, lists, the credential an alert
names, and the dashboard's time-to-contain.

Visibility follows the path: an incident is seen by whoever sees its path
(selectors.visible_paths_q); one that names no path (an alert that matched nothing) is
security's alone until it is linked.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
)

from registry.models import AccessPath, AuditEvent, CredentialIdentifier, Incident
from registry.rules.actors import Actor
from registry.selectors import visible_paths_q

# The industry's figure for the time to remediate a leaked secret: GitGuardian, "The
# State of Secrets Sprawl 2024" (average 27 days from detection to remediation).
INDUSTRY_DAYS_TO_REMEDIATE = 27
# The dashboard's window for the median time to contain.
CONTAINMENT_WINDOW_DAYS = 90


def visible_incidents_q(actor: Actor) -> Q | None:
    """Incidents the actor may read; None means all of them (security, the system)."""
    scope = visible_paths_q(actor)
    if scope is None:
        return None
    return Q(path__in=AccessPath.objects.filter(scope).values("pk"))


def visible_incidents(*, actor: Actor) -> QuerySet[Incident]:
    qs = Incident.objects.select_related("path", "path__owner_team", "path__steward_team")
    scope = visible_incidents_q(actor)
    return qs if scope is None else qs.filter(scope)


def incident_list(*, actor: Actor, state: str | None = None) -> QuerySet[Incident]:
    qs = visible_incidents(actor=actor)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-detected_at", "-id")


def incident_get(*, actor: Actor, incident_id: object) -> Incident | None:
    """One visible incident, or None (callers answer 404: an outsider cannot tell
    whether it exists)."""
    try:
        pk = int(str(incident_id))
    except ValueError:
        return None
    return visible_incidents(actor=actor).filter(pk=pk).first()


def path_incidents(*, path: AccessPath, limit: int = 20) -> list[Incident]:
    """The path's incidents, newest first (the incident_by_path index)."""
    return list(Incident.objects.filter(path=path).order_by("-detected_at", "-id")[:limit])


def incident_history(*, incident: Incident, limit: int = 200) -> QuerySet[AuditEvent]:
    """The incident's audit events, newest first (the audit_by_object index)."""
    return AuditEvent.objects.filter(
        object_type=Incident._meta.model_name, object_id=str(incident.pk)
    ).order_by("-seq")[:limit]


# --- keyset pages (newest detection first) ----------------------------------------------


def _cursor(incident: Incident) -> str:
    raw = json.dumps([incident.detected_at.isoformat(), incident.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, pk = json.loads(base64.urlsafe_b64decode(padded))
        return dt.datetime.fromisoformat(at), int(pk)
    except (ValueError, TypeError):
        return None


def incident_page(
    qs: QuerySet[Incident], cursor: str | None, size: int = 50
) -> tuple[list[Incident], str | None]:
    """One page after `cursor` (newest detection first) and the next page's cursor."""
    qs = qs.order_by("-detected_at", "-id")
    position = _position(cursor) if cursor else None
    if position is not None:
        at, pk = position
        qs = qs.filter(Q(detected_at__lt=at) | Q(detected_at=at, id__lt=pk))
    rows = list(qs[: size + 1])
    if len(rows) <= size:
        return rows, None
    return rows[:size], _cursor(rows[size - 1])


# --- which credential an alert names ----------------------------------------------------


@dataclass(frozen=True)
class Match:
    path: AccessPath | None
    matched_by: str  # the identifier kind that found it ("" when nothing, or several)
    candidates: int  # how many paths the identifier names


def match_credential(*, kind: str | None, value: str) -> Match:
    """The one path a (normalised) identifier names. Retired identifiers count: a key
    rotated out may still be live where it leaked. Several paths (a principal shared by
    two clusters) is not a match: security links the right one."""
    names = CredentialIdentifier.objects.filter(value=value).order_by()
    if kind == "external_id":
        names = names.none()
    elif kind is not None:
        names = names.filter(kind=kind)
    by_identifier = dict(names.values_list("path_id", "kind")[:20])
    by_external_id = set()
    if kind in (None, "external_id"):
        by_external_id = set(
            AccessPath.objects.filter(external_id=value).values_list("pk", flat=True)[:20]
        )
    found = set(by_identifier) | by_external_id
    if len(found) != 1:
        return Match(None, "", len(found))
    (pk,) = found
    path = AccessPath.objects.select_related("owner_team", "steward_team").get(pk=pk)
    return Match(path, by_identifier.get(pk, "external_id"), 1)


# --- the dashboard ----------------------------------------------------------------------


class Median(Aggregate):
    """PostgreSQL's ordered-set median (percentile_cont works on intervals too)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False


@dataclass(frozen=True)
class IncidentFigures:
    open: int
    contained_in_window: int
    median_to_contain: dt.timedelta | None
    window_days: int = CONTAINMENT_WINDOW_DAYS
    industry_days: int = INDUSTRY_DAYS_TO_REMEDIATE

    @property
    def median_hours(self) -> float | None:
        if self.median_to_contain is None:
            return None
        return round(self.median_to_contain.total_seconds() / 3600, 1)


def _time_to_contain() -> ExpressionWrapper:
    return ExpressionWrapper(F("contained_at") - F("detected_at"), output_field=DurationField())


def incident_figures(*, actor: Actor, now: dt.datetime) -> IncidentFigures:
    """Open incidents and the median time from detection to containment of the
    incidents detected in the last 90 days and contained since (the
    incident_detected index). One query on PostgreSQL; on SQLite, which has no
    percentile, a second one reads the middle row(s) by offset."""
    qs = Incident.objects.all()
    scope = visible_incidents_q(actor)
    if scope is not None:
        qs = qs.filter(scope)
    since = now - dt.timedelta(days=CONTAINMENT_WINDOW_DAYS)
    window = Q(detected_at__gte=since, contained_at__isnull=False)
    counts = {
        "open": Count("id", filter=Q(state=Incident.State.OPEN)),
        "contained": Count("id", filter=window),
    }
    if connection.vendor == "postgresql":
        row = qs.aggregate(
            **counts, median=Median(_time_to_contain(), filter=window, output_field=DurationField())
        )
        return IncidentFigures(row["open"], row["contained"], row["median"])
    row = qs.aggregate(**counts)
    median = _median_by_offset(qs.filter(window), count=row["contained"])
    return IncidentFigures(row["open"], row["contained"], median)


def _median_by_offset(qs: QuerySet[Incident], *, count: int) -> dt.timedelta | None:
    """The median without percentile_cont: the middle row, or the mean of the two
    middle rows, read by offset from the ordered durations (`count` rows)."""
    durations = qs.annotate(took=_time_to_contain()).order_by("took")
    if count == 0:
        return None
    middle = list(durations.values_list("took", flat=True)[(count - 1) // 2 : count // 2 + 1])
    return sum(middle, dt.timedelta()) / len(middle)
