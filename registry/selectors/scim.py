"""SCIM reads: the users and groups (teams) an identity provider sees, filtered and
paged, with what their representations need loaded up front (no query per row).

A user or group SCIM deleted is gone for SCIM (404, absent from lists) though its rows
stay. Group display names: NHI_SCIM_GROUP_TEAMS maps an identity provider's group name
to a team slug ({"nhi-payments": "payments"}), so a directory's naming convention
need not be the teams'; any other team is the group named as the team is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Prefetch, Q, QuerySet

from registry.models import AuditEvent, Membership, Team

# How the audit trail names a SCIM token acting (services/scim.scim_actor): the team
# page's "changes from the identity provider" read events by it.
SCIM_ACTOR_PREFIX = "SCIM "
# Sign-in's group sync acts as "identity provider <issuer>" (services/identity_sync).
PROVIDER_ACTOR_PREFIX = "identity provider "


def _group_names() -> dict[str, str]:
    """Identity provider group name -> team slug (NHI_SCIM_GROUP_TEAMS)."""
    names: Any = settings.NHI_SCIM_GROUP_TEAMS  # {str: str}: config/settings.py checks it
    return {str(name): str(slug) for name, slug in names.items()}


def group_display_name(team: Team) -> str:
    for name, slug in _group_names().items():
        if slug == team.slug:
            return name
    return team.name


def _current_members() -> Prefetch:
    return Prefetch(
        "memberships",
        queryset=Membership.objects.filter(ended_at__isnull=True)
        .select_related("user")
        .order_by("user_id"),
        to_attr="current_memberships",
    )


def _user_teams() -> Prefetch:
    return Prefetch(
        "memberships",
        queryset=Membership.objects.filter(ended_at__isnull=True)
        .select_related("team")
        .order_by("team__slug"),
        to_attr="current_memberships",
    )


def scim_users() -> QuerySet[User]:
    """Every user SCIM has not deleted, with their external id and current teams."""
    return (
        User.objects.exclude(scim__deleted_at__isnull=False)
        .select_related("scim")
        .prefetch_related(_user_teams())
        .order_by("pk")
    )


def scim_groups() -> QuerySet[Team]:
    """Every team SCIM has not deleted, with its external id and current members."""
    return (
        Team.objects.exclude(scim__deleted_at__isnull=False)
        .select_related("scim")
        .prefetch_related(_current_members())
        .order_by("pk")
    )


def scim_user(pk: str) -> User | None:
    return scim_users().filter(pk=int(pk)).first() if pk.isdigit() else None


def scim_group(pk: str) -> Team | None:
    return scim_groups().filter(pk=int(pk)).first() if pk.isdigit() else None


def teams_named(display_name: str) -> QuerySet[Team]:
    """The teams SCIM calls `display_name` (case-insensitively, as RFC 7643 defines
    Group.displayName): the mapped team, or teams of that name not mapped to another."""
    names = _group_names()
    mapped = {name.lower(): slug for name, slug in names.items()}
    by_name = Q(name__iexact=display_name) & ~Q(slug__in=list(names.values()))
    match = Q(slug=mapped[display_name.lower()]) if display_name.lower() in mapped else by_name
    return Team.objects.exclude(scim__deleted_at__isnull=False).filter(match)


# Filter attribute -> how it reads, for each resource (RFC 7644 3.4.2.2). userName and
# displayName are case-insensitive (caseExact false), ids and externalId exact.
USER_ATTRIBUTES = {
    "id": ("pk", True),
    "username": ("username", False),
    "externalid": ("scim__external_id", True),
    "emails": ("email", False),
    "emails.value": ("email", False),
    "name.givenname": ("first_name", False),
    "name.familyname": ("last_name", False),
    "active": ("is_active", True),
}
GROUP_ATTRIBUTES = {
    "id": ("pk", True),
    "externalid": ("scim__external_id", True),
    "members.value": ("memberships__user_id", True),
}


@dataclass(frozen=True)
class Comparison:
    """One `attribute op value` of a filter, already parsed (scim/filters.py)."""

    attribute: str
    op: str
    value: object


def filter_q(comparisons: Iterable[Comparison], *, groups: bool) -> Q | None:
    """The conditions ANDed, or None when an attribute cannot be filtered on."""
    table = GROUP_ATTRIBUTES if groups else USER_ATTRIBUTES
    combined = Q()
    for comparison in comparisons:
        attribute = comparison.attribute.lower()
        if groups and attribute == "displayname":
            combined &= _display_name_q(comparison)
            continue
        if attribute not in table:
            return None
        field, exact = table[attribute]
        if attribute == "members.value":
            combined &= Q(memberships__ended_at__isnull=True)
        combined &= _lookup(field, exact, comparison)
    return combined


def _lookup(field: str, exact: bool, comparison: Comparison) -> Q:
    value = comparison.value
    if comparison.op == "pr":
        return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})
    if field == "pk" and not str(value).isdigit():
        return Q(pk__in=[])
    suffix = {"eq": "exact", "ne": "exact", "co": "contains", "sw": "startswith", "ew": "endswith"}
    lookup = suffix[comparison.op]
    if not exact:
        lookup = "i" + lookup
    q = Q(**{f"{field}__{lookup}": value})
    return ~q if comparison.op == "ne" else q


def _display_name_q(comparison: Comparison) -> Q:
    if comparison.op == "eq":
        return Q(pk__in=teams_named(str(comparison.value)).values("pk"))
    if comparison.op == "pr":
        return Q()
    return _lookup("name", False, comparison)


def team_provider_changes(team: Team, *, limit: int = 20) -> QuerySet[AuditEvent]:
    """Recent changes the identity provider made to a team and its memberships, for the
    team page: audit events whose actor is a SCIM token or the sign-in's group sync."""
    membership_ids = Membership.objects.filter(team=team).values("pk")
    return (
        AuditEvent.objects.filter(
            Q(actor_label__startswith=SCIM_ACTOR_PREFIX)
            | Q(actor_label__startswith=PROVIDER_ACTOR_PREFIX)
        )
        .filter(
            Q(object_type="team", object_id=str(team.pk))
            | Q(object_type="membership", object_id__in=_as_text(membership_ids))
        )
        .order_by("-seq")[:limit]
    )


def _as_text(ids: QuerySet) -> list[str]:
    return [str(pk) for pk in ids.values_list("pk", flat=True)]
