"""Reads of paths: what an actor may see, one path, its identifiers, history and open requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
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
from registry.rules.facts import UNOWNED_STATES
from registry.rules.policies import Policy, current_policy
from registry.rules.status import staffed_team_ids, status_case, status_of
from registry.selectors.filters import AccessPathFilterSet

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Status(TypedDict):
        status: str  # registry.rules.status.status_case

    PathWithStatus = WithAnnotations[AccessPath, _Status]


@dataclass(frozen=True)
class TeamVisibility:
    """What the members of `team_ids` may read, in the parts the dashboard counts in
    different ways (selectors/tallies.py): the paths the teams own, the claimable ones,
    and the related ones: those they steward, are named to revoke or are offered.
    `related` (per-row EXISTS probes, for pages that stop after a page of rows) and
    `related_ids` (a union of the three index ranges, for a count) are built from the
    same three relations."""

    owned: Q
    claimable: Q
    related: Q
    related_ids: QuerySet

    @property
    def q(self) -> Q:
        return self.owned | self.claimable | self.related


def team_visibility(team_ids: Iterable[int]) -> TeamVisibility:
    team_ids = sorted(team_ids)
    stewarded = Q(steward_team_id__in=team_ids)
    revokers = AccessPath.revoker_teams.through.objects.filter(team_id__in=team_ids)
    offered = Transfer.objects.filter(to_team_id__in=team_ids, status=Transfer.Status.PENDING)
    return TeamVisibility(
        owned=Q(owner_team_id__in=team_ids),
        claimable=Q(state__in=UNOWNED_STATES),  # every team may claim them
        related=stewarded
        | Q(Exists(revokers.filter(accesspath_id=OuterRef("pk"))))
        | Q(Exists(offered.filter(path_id=OuterRef("pk")))),
        related_ids=AccessPath.objects.filter(stewarded)
        .order_by()
        .values("pk")
        .union(
            revokers.order_by().values("accesspath_id"),
            offered.order_by().values("path_id"),
        ),
    )


def visible_paths_q(actor: Actor) -> Q | None:
    """What an actor may read; None means everything.

    Security and the system see the whole estate. A team sees what it owns or stewards,
    what it is named to revoke, what is offered to it, and unowned paths (so it can
    claim them): team_visibility. Outsiders see nothing.
    """
    if actor.sees_everything:
        return None
    if not actor.team_ids:
        return Q(pk__in=[])
    return team_visibility(actor.team_ids).q


def path_queryset(
    *,
    actor: Actor,
    now: dt.datetime | None = None,
    policy: Policy | None = None,
    with_status: bool = True,
) -> QuerySet[PathWithStatus]:
    """Visible paths with their owner and steward. `with_status`: annotate `status` in
    SQL, for readers that group, export or stream by it. A page that only shows the
    status of the rows it loaded passes False and calls attach_status on them: building
    and compiling status_case costs more than the page's query."""
    qs = AccessPath.objects.select_related("owner_team", "steward_team")
    scope = visible_paths_q(actor)
    if scope is not None:
        qs = qs.filter(scope)
    if not with_status:
        return qs  # type: ignore[return-value]  # attach_status sets it on the rows
    now = now or timezone.now()
    policy = policy or current_policy()
    return qs.annotate(status=status_case(now=now, policy=policy))


def attach_status(
    paths: Iterable[AccessPath], *, now: dt.datetime, policy: Policy | None = None
) -> None:
    """Set `status` on paths loaded without it (path_queryset(with_status=False)): the
    same predicates as status_case, in Python (rules/status.status_of), with one query
    for whether their owning teams still have people (the owner team itself comes with
    select_related)."""
    paths = list(paths)
    policy = policy or current_policy()
    owners = {p.owner_team_id for p in paths if p.owner_team_id is not None}
    staffed = staffed_team_ids(owners) if owners else set()
    for path in paths:
        owner = path.owner_team
        accountable = owner is None or (owner.is_active and owner.pk in staffed)
        path.status = status_of(path, now=now, policy=policy, accountable=accountable)  # type: ignore[attr-defined]


def path_list(
    *,
    actor: Actor,
    filters: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    policy: Policy | None = None,
    with_status: bool = True,
) -> QuerySet[AccessPath]:
    """The inventory: visible paths, filtered by the FilterSet, annotated with `status`
    unless `with_status` is False (then attach_status on the rows a page shows)."""
    now = now or timezone.now()
    policy = policy or current_policy()
    qs = path_queryset(actor=actor, now=now, policy=policy, with_status=with_status)
    filterset = AccessPathFilterSet(data=filters or {}, queryset=qs, now=now, policy=policy)
    if not filterset.is_valid():
        raise Invalid({k: [str(m) for m in v] for k, v in filterset.errors.items()})
    return filterset.qs


def load_path_details(
    paths: Sequence[AccessPath], *, now: dt.datetime, policy: Policy | None = None
) -> None:
    """What a page or the API shows of paths loaded by path_queryset(with_status=False),
    attached in at most three queries for any number of rows: `status` (attach_status),
    `tag_slugs` and `live_identifiers`. Flat value queries rather than prefetch_related,
    which builds a related manager and a queryset per row (a quarter of an API page's
    time)."""
    if not paths:
        return
    attach_status(paths, now=now, policy=policy)
    ids = [p.pk for p in paths]
    tags: dict[Any, list[str]] = {pk: [] for pk in ids}
    through = AccessPath.tags.through
    rows = (
        through.objects.filter(accesspath_id__in=ids)
        .order_by("tag__slug")
        .values_list("accesspath_id", "tag__slug")
    )
    for path_id, slug in rows:
        tags[path_id].append(slug)
    identifiers: dict[Any, list[CredentialIdentifier]] = {pk: [] for pk in ids}
    live = CredentialIdentifier.objects.filter(path_id__in=ids, retired_at__isnull=True)
    for identifier in live.order_by("kind", "value"):
        identifiers[identifier.path_id].append(identifier)
    for path in paths:
        path.tag_slugs = tags[path.pk]  # type: ignore[attr-defined]
        path.live_identifiers = identifiers[path.pk]  # type: ignore[attr-defined]


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
    now = now or timezone.now()
    path = path_queryset(actor=actor, with_status=False).filter(pk=pk).first()
    if path is not None:
        attach_status([path], now=now)
    return path


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
