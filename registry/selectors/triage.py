"""Triage: who to call about a credential, from any of its names (a read).

Given an identifier (key id, principal, client id, external id) or a fingerprint
(SHA-256 of the credential, computed where the credential is), one answer says which
path(s) it is, their status, the team to route to with its leads and their contacts, the
steward, the revocation plan, the last attestation, the open exceptions and whom to
escalate to. A match outside the caller's visibility answers only the team to route to
and its contacts: enough to route a leak, nothing more.

A fixed number of queries whatever the number of matches, teams and leads: the
matching ids, the paths (visibility and the latest attestation computed in it), the
teams' people, the exceptions and the escalation teams. The service (services/triage.py) audits the
lookup and tells the team; this module only reads.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone

from registry.models import (
    AccessPath,
    Attestation,
    CredentialIdentifier,
    Membership,
    PolicyException,
    Team,
)
from registry.notifications.outbox import channels_for
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.control_points import TEAM_RELATIONS, load_authority
from registry.rules.errors import Invalid
from registry.rules.links import new_incident_url, path_url
from registry.rules.policies import current_policy
from registry.rules.status import status_of
from registry.rules.validation import credential_in
from registry.selectors import visible_paths_q

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Found(TypedDict):
        """What triage_find adds to each path it loads."""

        visible: bool
        attested_at: dt.datetime | None  # the latest attestation
        attested_by: str | None
        attested_decision: str | None

    FoundPath = WithAnnotations[AccessPath, _Found]

MAX_MATCHES = 20
FIELD = "value"
_FINGERPRINT = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
LOOKUP_KINDS = (*CredentialIdentifier.Kind.values, "external_id")


@dataclass(frozen=True)
class Query:
    """What was looked up, normalised: safe to record (never a credential)."""

    kind: str | None  # None: any identifier kind, or the external id
    value: str


def parse_query(value: Any, kind: Any = None) -> Query:
    """The lookup as asked, or Invalid: empty, an unknown kind, a bad fingerprint, or a
    credential itself (look it up by its fingerprint instead, never by its value)."""
    if kind in ("", None):
        kind = None
    elif kind not in LOOKUP_KINDS:
        raise Invalid.single("kind", errors.IDENTIFIER_KIND.format(kind=str(kind)[:40]))
    if not isinstance(value, str) or not value.strip():
        raise Invalid.single(FIELD, errors.TRIAGE_NEEDS_A_VALUE)
    value = value.strip()
    if len(value) > 500:
        raise Invalid.single(FIELD, errors.IDENTIFIER_TOO_LONG)
    fingerprint = _FINGERPRINT.match(value.lower())
    if kind == CredentialIdentifier.Kind.FINGERPRINT:
        if fingerprint is None:
            raise Invalid.single(FIELD, errors.IDENTIFIER_FINGERPRINT)
        return Query(kind, fingerprint.group(1))
    if kind is None and fingerprint is not None:
        return Query(CredentialIdentifier.Kind.FINGERPRINT, fingerprint.group(1))
    if finding := credential_in("identifier", value):
        raise Invalid.single(FIELD, errors.SEARCH_LOOKS_LIKE_SECRET.format(kind=finding.kind))
    return Query(kind, value)


def _matching_ids(query: Query) -> list:
    """The ids of the paths named by the query: one indexed query (the identifier value
    index and the external id index, UNIONed, so neither side becomes a scan)."""
    names = CredentialIdentifier.objects.filter(value=query.value).order_by()
    by_external_id = AccessPath.objects.filter(external_id=query.value).order_by().values_list("pk")
    found: QuerySet[Any, tuple[Any]]
    if query.kind == "external_id":
        found = by_external_id
    elif query.kind is not None:
        found = names.filter(kind=query.kind).values_list("path_id")
    else:
        found = names.values_list("path_id").union(by_external_id)
    return [pk for (pk,) in found[: MAX_MATCHES * 4]]


@overload
def _team(team: Team) -> dict: ...
@overload
def _team(team: Team | None) -> dict | None: ...
def _team(team: Team | None) -> dict | None:
    """A team as a contact: its name, its address and the kinds of channel it hears on
    (never a channel's URL: those are credentials)."""
    if team is None:
        return None
    return {
        "slug": team.slug,
        "name": team.name,
        "email": team.email or None,
        "channels": channels_for(team, Membership.Role.MEMBER),
        "active": team.is_active,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass
class Answer:
    query: Query
    data: dict
    paths: list[FoundPath]  # every match (visible or not), for the audit and the notice
    route_teams: dict[Any, Team]  # path id -> the team told about the lookup


def triage_find(*, actor: Actor, query: Query, now: dt.datetime | None = None) -> Answer:
    now = now or timezone.now()
    policy = current_policy()
    scope = visible_paths_q(actor)
    visible = Value(True) if scope is None else ExpressionWrapper(scope, BooleanField())
    latest = Attestation.objects.filter(path=OuterRef("pk")).order_by("-created_at", "-id")
    ids = _matching_ids(query)
    paths = list(
        AccessPath.objects.filter(pk__in=ids)
        .select_related("owner_team", *TEAM_RELATIONS)
        .annotate(
            visible=visible,
            # The latest attestation, from the (path, -created_at) index, in the same query.
            attested_at=Subquery(latest.values("created_at")[:1]),
            attested_by=Subquery(latest.values("attested_by__username")[:1]),
            attested_decision=Subquery(latest.values("decision")[:1]),
        )
        .order_by("created_at", "id")[:MAX_MATCHES]
    )
    route = {p.pk: p.owner_team or p.steward_team for p in paths}
    shown = [p for p in paths if p.visible]
    team_ids = {t.pk for t in route.values() if t is not None}
    team_ids |= {p.steward_team_id for p in shown if p.steward_team_id}
    leads: dict[int, list[dict]] = {}
    statuses: dict[Any, str] = {}  # path id -> status, for the visible ones
    if shown:
        # One query for the teams' current people: their leads (the contacts), and
        # whether an owning team has anyone at all (offboarding makes a path lapsed).
        owners = {p.owner_team_id for p in shown if p.owner_team_id}
        staffed: set[int] = set()
        people = (
            Membership.objects.filter(team_id__in=team_ids | owners, ended_at__isnull=True)
            .order_by("user__username")
            .values_list("team_id", "role", "user__username", "user__email")
        )
        for team_id, role, username, email in people:
            staffed.add(team_id)
            if role == Membership.Role.LEAD:
                leads.setdefault(team_id, []).append({"username": username, "email": email or None})
        # The status, exact at read time, without building status_case's SQL (which
        # costs more than the lookup): the same predicates in Python (status.status_of).
        for p in shown:
            owner = p.owner_team
            accountable = owner is None or (owner.is_active and owner.pk in staffed)
            statuses[p.pk] = status_of(p, now=now, policy=policy, accountable=accountable)
    exceptions: dict[Any, list[dict]] = {}
    escalation: list[dict] = []
    if shown:
        for e in (
            PolicyException.objects.filter(path_id__in=[p.pk for p in shown])
            .filter(
                Q(status=PolicyException.Status.PENDING)
                | Q(status=PolicyException.Status.APPROVED, expires_at__gt=now)
            )
            .order_by("created_at", "id")
        ):
            exceptions.setdefault(e.path_id, []).append(
                {"id": e.pk, "rule": e.rule, "status": e.status, "expires_at": _iso(e.expires_at)}
            )
    if paths:
        # Security's teams: few, and asked once per lookup that found something.
        escalation = [
            _team(t)
            for t in Team.objects.filter(kind=Team.Kind.SECURITY, is_active=True).order_by("slug")
        ]

    # Approval, revokers and control points: two queries (policies, revokers) for all.
    load_authority(shown)

    def full(path: FoundPath) -> dict:
        owner, steward = path.owner_team, path.steward_team
        authority = path.authority
        return {
            "visible": True,
            "path": {
                "id": str(path.pk),
                "url": path_url(path.pk),
                "name": path.name,
                "kind": path.kind,
                "system": path.system,
                "external_id": path.external_id,
                "environment": path.environment,
                "risk_tier": path.risk_tier,
                "state": path.state,
                "status": statuses[path.pk],
                "expires_at": _iso(path.expires_at),
            },
            "route_to": _team(route[path.pk]),
            "owning_team": owner and {**_team(owner), "leads": leads.get(owner.pk, [])},
            "steward_team": steward and {**_team(steward), "leads": leads.get(steward.pk, [])},
            "revocation_plan": path.revocation_plan or None,
            "rollback": path.rollback_plan or None,
            "last_attestation": path.attested_at
            and {
                "at": _iso(path.attested_at),
                "by": path.attested_by,
                "decision": path.attested_decision,
            },
            "open_exceptions": exceptions.get(path.pk, []),
            "control_point_owners": {
                point: owner.team and {**_team(owner.team), "source": owner.source}
                for point, owner in authority.owners.items()
            },
            "authority_approved_by": authority.approval_json() if authority.approved_by else None,
            # Who may revoke: the owner (else the steward), and the named revoker teams.
            "revokers": [
                _team(t) for t in [owner or steward, *authority.revoker_teams] if t is not None
            ],
            "incident_url": new_incident_url(kind=query.kind, value=query.value),
        }

    def routing_only(path: FoundPath) -> dict:
        return {
            "visible": False,
            "route_to": _team(route[path.pk]),
            "incident_url": new_incident_url(kind=query.kind, value=query.value),
        }

    data = {
        "query": {"kind": query.kind, "value": query.value},
        "matches": [full(p) if p.visible else routing_only(p) for p in paths],
        "escalation_contacts": escalation,
    }
    routed = {pk: team for pk, team in route.items() if team is not None}
    return Answer(query=query, data=data, paths=paths, route_teams=routed)
