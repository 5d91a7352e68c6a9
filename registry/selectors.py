"""Every non-trivial read: scoped to what the actor may see and annotated so that
templates and serializers run no further queries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from registry.actors import Actor
from registry.audit import PURGE_ACTION, PURGED
from registry.audit.chain import CHANGES_PREFIX, canonical, slot_values
from registry.errors import Invalid
from registry.filters import AccessPathFilterSet
from registry.messages import describe_notification
from registry.models import (
    AccessPath,
    ApiToken,
    Attestation,
    AuditEvent,
    ChangeRequest,
    Claim,
    CredentialIdentifier,
    ImportRun,
    Membership,
    Notification,
    PolicyException,
    SavedFilter,
    Team,
    Transfer,
)
from registry.permissions import may_read_team
from registry.policies import Policy, current_policy
from registry.progress import channel_test_state
from registry.status import status_case
from registry.validation import credential_in


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
) -> QuerySet[AccessPath]:
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


def path_timeline(*, path: AccessPath) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(path=path).select_related("actor_user").order_by("-seq")


@dataclass(frozen=True)
class UpcomingReminder:
    at: dt.datetime
    path: AccessPath
    what: str


def reminder_preview(
    *, team: Team, now: dt.datetime | None = None, days: int = 30, policy: Policy | None = None
) -> list[UpcomingReminder]:
    """What the sweep will send about `team`'s paths in the next `days` days, in order:
    review and expiry reminders, and the escalation ladder of reviews falling due."""
    now = now or timezone.now()
    policy = policy or current_policy()
    horizon = now + dt.timedelta(days=days)
    # The (owner_team, next_review_at) index serves the review half of this query.
    paths = AccessPath.objects.filter(owner_team=team, state=AccessPath.State.ACTIVE).filter(
        Q(
            next_review_at__lte=horizon + policy.review_window,
            next_review_at__gt=now - policy.lapse_after,
        )
        | Q(expires_at__gt=now, expires_at__lte=horizon + policy.review_window)
    )
    ladder = (
        "the team is told it is overdue",
        "escalated to the team's leads",
        "escalated to security",
        "lapsed",
    )
    upcoming: list[UpcomingReminder] = []
    for path in paths.order_by("next_review_at", "id")[:2000]:
        events: list[tuple[dt.datetime, str]] = []
        if path.expires_at is None or path.next_review_at < path.expires_at:
            due = path.next_review_at
            for d in policy.reminder_offsets_days:
                events.append((due - dt.timedelta(days=d), f"review reminder ({d} days before)"))
            for d, text in zip(policy.escalation_days, ladder, strict=True):
                events.append((due + dt.timedelta(days=d), text))
        if path.expires_at is not None:
            for d in policy.reminder_offsets_days:
                at = path.expires_at - dt.timedelta(days=d)
                events.append((at, f"expiry reminder ({d} days before)"))
            events.append((path.expires_at, "expires"))
        upcoming += [UpcomingReminder(at, path, what) for at, what in events if now < at <= horizon]
    return sorted(upcoming, key=lambda r: (r.at, str(r.path.pk)))


def path_notifications(*, path: AccessPath) -> QuerySet[Notification]:
    return path.notifications.select_related("team").order_by("-created_at", "-id")[:100]


def _visible_paths(actor: Actor) -> QuerySet[AccessPath]:
    scope = visible_paths_q(actor)
    return AccessPath.objects.all() if scope is None else AccessPath.objects.filter(scope)


def visible_claims(*, actor: Actor) -> QuerySet[Claim]:
    """Claims on the paths the actor may see."""
    qs = Claim.objects.select_related("team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=_visible_paths(actor))


def visible_transfers(*, actor: Actor) -> QuerySet[Transfer]:
    qs = Transfer.objects.select_related("from_team", "to_team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=_visible_paths(actor))


def visible_exceptions(*, actor: Actor) -> QuerySet[PolicyException]:
    qs = PolicyException.objects.select_related("requested_by").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=_visible_paths(actor))


def visible_audit_events(*, actor: Actor) -> QuerySet[AuditEvent]:
    """Security reads the whole log; teams read the history of the paths they see."""
    if actor.sees_everything:
        return AuditEvent.objects.order_by("-seq")
    return AuditEvent.objects.filter(path__in=_visible_paths(actor)).order_by("-seq")


def visible_notifications(*, actor: Actor) -> QuerySet[Notification]:
    qs = Notification.objects.select_related("team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(team_id__in=actor.team_ids)


def team_members(*, actor: Actor, team: Team) -> QuerySet[Membership] | None:
    """A team's current members, for the team itself and security; None for others."""
    if not may_read_team(actor, team):
        return None
    return Membership.objects.filter(team=team, ended_at__isnull=True).select_related("user")


def actor_teams(*, actor: Actor) -> QuerySet[Team]:
    """The active teams the actor acts for (a token: its one team)."""
    return Team.objects.filter(pk__in=actor.team_ids).order_by("slug")


def team_for_reader(*, actor: Actor, slug: str) -> Team | None:
    """A team whose own pages (members, coming reminders) the actor may read: its
    members and security. None for anyone else, as for a team that does not exist."""
    team = Team.objects.filter(slug=slug).first()
    return team if team is not None and may_read_team(actor, team) else None


# --- Pages: path detail, queues, team pages ---------------------------------------


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


def transfers_waiting_for(*, actor: Actor) -> QuerySet[Transfer]:
    """Transfers offered to the actor's teams, oldest first."""
    return (
        Transfer.objects.filter(status=Transfer.Status.PENDING, to_team_id__in=actor.team_ids)
        .select_related("path", "from_team", "to_team")
        .order_by("created_at", "id")
    )


def pending_claims() -> QuerySet[Claim]:
    """Security's queue, oldest first (the claim_pending_age index)."""
    return (
        Claim.objects.filter(status=Claim.Status.PENDING)
        .select_related("path", "team")
        .order_by("created_at", "id")
    )


def pending_exceptions() -> QuerySet[PolicyException]:
    return (
        PolicyException.objects.filter(status=PolicyException.Status.PENDING)
        .select_related("path", "requested_by")
        .order_by("created_at", "id")
    )


def dead_notifications() -> QuerySet[Notification]:
    return (
        Notification.objects.filter(status=Notification.Status.DEAD)
        .select_related("team", "path")
        .order_by("-created_at", "-id")
    )


def team_directory(*, actor: Actor) -> QuerySet[Team]:
    """Teams whose pages the actor may open: all for security, else their own."""
    qs = Team.objects.order_by("slug")
    return qs if actor.sees_everything else qs.filter(pk__in=actor.team_ids)


def team_tokens(*, team: Team) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(team=team).order_by("-created_at", "-id")


def saved_filters(*, user) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(user=user, archived_at__isnull=True).order_by("name")


def queued_imports(*, limit: int = 10) -> list[str]:
    """Imports still waiting for a worker, oldest first."""
    queued = ImportRun.objects.filter(status=ImportRun.Status.QUEUED).order_by("created_at")
    return [str(pk) for pk in queued.values_list("pk", flat=True)[:limit]]


def import_runs(*, limit: int = 50) -> QuerySet[ImportRun]:
    return ImportRun.objects.select_related("steward_team").order_by("-created_at")[:limit]


def visible_import_runs(*, actor: Actor) -> QuerySet[ImportRun]:
    """Imports write across teams: only security (and the system) follow them."""
    qs = ImportRun.objects.select_related("steward_team").order_by("-created_at")
    return qs if actor.sees_everything else qs.none()


@dataclass(frozen=True)
class StoredSecret:
    seq: int
    slot: str
    kind: str


def audit_stored_secrets() -> Iterator[StoredSecret]:
    """Every unpurged audit value the detector now recognises as a credential (a format
    it learnt after the value was written): what `audit_value_purge` should remove."""
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        for slot, value in slot_values(event):
            if slot in event.purged or value in (None, "", PURGED):
                continue
            if event.action == PURGE_ACTION and slot.startswith(CHANGES_PREFIX):
                continue  # what a purge purged: the verifier needs it, and it holds no value
            text = value if isinstance(value, str) else canonical(value)
            if finding := credential_in(slot.removeprefix(CHANGES_PREFIX), text):
                yield StoredSecret(event.seq, slot, finding.kind)


def channel_test_of(*, team: Team, test_id: str) -> dict | None:
    """A queued test-send of this team's channel (registry/progress.py), or None: an
    unknown id, or another team's test, reads as nothing."""
    state = channel_test_state(test_id)
    return state if state and state.get("team") == team.pk else None


def visible_change_requests(*, actor: Actor) -> QuerySet[ChangeRequest]:
    """Changes waiting for (or decided by) a second person, on paths the actor may see."""
    qs = ChangeRequest.objects.select_related("path", "decided_by").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=_visible_paths(actor))


def pending_change_request(*, path: AccessPath) -> ChangeRequest | None:
    return path.change_requests.filter(status=ChangeRequest.Status.PENDING).first()
