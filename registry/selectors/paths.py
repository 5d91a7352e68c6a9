"""Reads of paths: what an actor may see, one path, its identifiers, history and open requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import (
    AccessPath,
    Attestation,
    AuditEvent,
    ChangeRequest,
    Claim,
    CredentialIdentifier,
    Notification,
    PolicyException,
    Transfer,
)
from registry.notifications.wording import describe_notification
from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.rules.policies import Policy, current_policy
from registry.rules.status import status_case
from registry.selectors.filters import AccessPathFilterSet

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Status(TypedDict):
        status: str  # registry.rules.status.status_case

    PathWithStatus = WithAnnotations[AccessPath, _Status]


def visible_paths_q(actor: Actor) -> Q | None:
    """What an actor may read; None means everything.

    Security and the system see the whole estate. A team sees what it owns or stewards,
    what it is named to revoke, what is offered to it, and unowned paths (so it can
    claim them). Outsiders see nothing.
    """
    if actor.sees_everything:
        return None
    team_ids = actor.team_ids
    if not team_ids:
        return Q(pk__in=[])
    offered = Exists(
        Transfer.objects.filter(
            path_id=OuterRef("pk"), to_team_id__in=team_ids, status=Transfer.Status.PENDING
        )
    )
    revokes = Exists(
        AccessPath.revoker_teams.through.objects.filter(
            accesspath_id=OuterRef("pk"), team_id__in=team_ids
        )
    )
    return (
        Q(owner_team_id__in=team_ids)
        | Q(steward_team_id__in=team_ids)
        | Q(state__in=[AccessPath.State.UNOWNED, AccessPath.State.CLAIM_PENDING])
        | Q(offered)
        | Q(revokes)
    )


def path_queryset(
    *, actor: Actor, now: dt.datetime | None = None, policy: Policy | None = None
) -> QuerySet[PathWithStatus]:
    now = now or timezone.now()
    policy = policy or current_policy()
    qs = AccessPath.objects.select_related("owner_team", "steward_team")
    scope = visible_paths_q(actor)
    if scope is not None:
        qs = qs.filter(scope)
    return qs.annotate(status=status_case(now=now, policy=policy))


def path_list(
    *,
    actor: Actor,
    filters: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    policy: Policy | None = None,
) -> QuerySet[AccessPath]:
    """The inventory: visible paths, annotated with `status`, filtered by the FilterSet."""
    now = now or timezone.now()
    policy = policy or current_policy()
    qs = path_queryset(actor=actor, now=now, policy=policy)
    filterset = AccessPathFilterSet(data=filters or {}, queryset=qs, now=now, policy=policy)
    if not filterset.is_valid():
        raise Invalid({k: [str(m) for m in v] for k, v in filterset.errors.items()})
    return filterset.qs


def with_identifiers(qs: QuerySet[AccessPath]) -> QuerySet[AccessPath]:
    """Each path's live identifiers as `live_identifiers`, one query for the page."""
    live = CredentialIdentifier.objects.filter(retired_at__isnull=True).order_by("kind", "value")
    return qs.prefetch_related(Prefetch("identifiers", queryset=live, to_attr="live_identifiers"))


def path_identifiers(*, path: AccessPath) -> list[CredentialIdentifier]:
    found = getattr(path, "live_identifiers", None)
    if found is not None:
        return found
    return list(
        CredentialIdentifier.objects.filter(path=path, retired_at__isnull=True).order_by(
            "kind", "value"
        )
    )


def path_get(*, actor: Actor, path_id: Any, now: dt.datetime | None = None) -> AccessPath | None:
    """One visible path with its status, or None: callers answer 404, not 403, so an
    outsider cannot even tell whether a path exists."""
    try:
        pk = uuid.UUID(str(path_id))
    except ValueError:
        return None
    return path_queryset(actor=actor, now=now).filter(pk=pk).first()


def path_notifications(*, path: AccessPath) -> QuerySet[Notification]:
    return path.notifications.select_related("team").order_by("-created_at", "-id")[:100]


def paths_visible_to(actor: Actor) -> QuerySet[AccessPath]:
    scope = visible_paths_q(actor)
    return AccessPath.objects.all() if scope is None else AccessPath.objects.filter(scope)


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # "audit" | "notification"
    title: str
    actor: str
    detail: str
    changes: dict
    attestation: Attestation | None = None


def path_history(*, path: AccessPath, limit: int = 200) -> list[TimelineEntry]:
    """One timeline, newest first: the path's audit events (claims, transfers,
    attestations, exceptions and edits are all audited) with each attestation's answers
    attached, merged with the notifications sent about it. Three queries."""
    recent = Attestation.objects.filter(path=path).order_by("-created_at")[:limit]
    attestations = {a.created_at: a for a in recent}
    entries = [
        TimelineEntry(
            at=event.created_at,
            kind="audit",
            title=event.action,
            actor=event.actor_label,
            detail=event.reason,
            changes=event.changes,
            attestation=attestations.get(event.created_at)
            if event.action == "access_path.attested"
            else None,
        )
        for event in AuditEvent.objects.filter(path=path).order_by("-seq")[:limit]
    ]
    entries += [
        TimelineEntry(
            at=n.created_at,
            kind="notification",
            title=f"notification.{n.status}",
            actor=f"to {n.team.slug} {n.get_audience_display().lower()} by "
            f"{n.get_channel_display()}",
            detail=describe_notification(n),
            changes={},
        )
        for n in path_notifications(path=path)
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]


@dataclass
class PathRequests:
    claims: list[Claim]
    transfer: Transfer | None
    exceptions: list[PolicyException]


def path_open_requests(*, path: AccessPath, now: dt.datetime | None = None) -> PathRequests:
    """Pending claims, the pending transfer and pending or live exceptions of a path."""
    now = now or timezone.now()
    claims = list(
        Claim.objects.filter(path=path, status=Claim.Status.PENDING)
        .select_related("team")
        .order_by("created_at", "id")
    )
    transfer = (
        Transfer.objects.filter(path=path, status=Transfer.Status.PENDING)
        .select_related("from_team", "to_team")
        .first()
    )
    exceptions = list(
        PolicyException.objects.filter(path=path)
        .filter(
            Q(status=PolicyException.Status.PENDING)
            | Q(status=PolicyException.Status.APPROVED, expires_at__gt=now)
        )
        .select_related("requested_by")
        .order_by("created_at", "id")
    )
    return PathRequests(claims, transfer, exceptions)


def pending_change_request(*, path: AccessPath) -> ChangeRequest | None:
    return path.change_requests.filter(status=ChangeRequest.Status.PENDING).first()
