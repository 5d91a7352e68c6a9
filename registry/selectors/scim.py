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


def as_id(raw: str) -> int | None:
    """A resource id as the key it names, or None: ASCII digits within the key's range
    ("\u0661" is a digit to str.isdigit, and a 20-digit id overflows bigint)."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
        return None
    return int(raw)


def scim_user(pk: str) -> User | None:
    key = as_id(pk)
    return scim_users().filter(pk=key).first() if key is not None else None


def scim_group(pk: str) -> Team | None:
    key = as_id(pk)
    return scim_groups().filter(pk=key).first() if key is not None else None


def teams_named(display_name: str) -> QuerySet[Team]:
    """The teams SCIM calls `display_name` (case-insensitively, as RFC 7643 defines
    Group.displayName): the mapped team, or teams of that name not mapped to another."""
    names = _group_names()
    mapped = {name.lower(): slug for name, slug in names.items()}
    by_name = Q(name__iexact=display_name) & ~Q(slug__in=list(names.values()))
    match = Q(slug=mapped[display_name.lower()]) if display_name.lower() in mapped else by_name
    return Team.objects.exclude(scim__deleted_at__isnull=False).filter(match)


class FilterError(ValueError):
    """Not a filter this server can answer (SCIM 400, scimType invalidFilter). Lives
    here, with the attribute table that decides it; scim/filters.py re-exports it."""


# A filter is bounded before it reaches the database: a provider sends one to three
# comparisons, so these only stop crafted requests from building huge queries.
MAX_FILTER_LENGTH = 1000
MAX_COMPARISONS = 20
# Ids are bigint keys: a larger number names nothing (and would overflow the column).
MAX_ID = 2**63 - 1

# Filter attribute -> (field, kind), for each resource (RFC 7644 3.4.2.2). Kinds:
# "text" (userName, emails, names, displayName: case-insensitive, caseExact false),
# "exact" (externalId: case-exact text), "id" (digits), "boolean" (active).
USER_ATTRIBUTES = {
    "id": ("pk", "id"),
    "username": ("username", "text"),
    "externalid": ("scim__external_id", "exact"),
    "emails": ("email", "text"),
    "emails.value": ("email", "text"),
    "name.givenname": ("first_name", "text"),
    "name.familyname": ("last_name", "text"),
    "active": ("is_active", "boolean"),
}
GROUP_ATTRIBUTES = {
    "id": ("pk", "id"),
    "externalid": ("scim__external_id", "exact"),
    "members.value": ("memberships__user_id", "id"),
}
_TEXT_LOOKUPS = {
    "eq": "exact",
    "ne": "exact",
    "co": "contains",
    "sw": "startswith",
    "ew": "endswith",
}


@dataclass(frozen=True)
class Comparison:
    """One `attribute op value` of a filter, already parsed (scim/filters.py)."""

    attribute: str
    op: str
    value: object


def filter_q(comparisons: Iterable[Comparison], *, groups: bool) -> Q | None:
    """The conditions ANDed, or None when an attribute cannot be filtered on. A value
    of the wrong type for its attribute raises FilterError, before any query runs."""
    table = GROUP_ATTRIBUTES if groups else USER_ATTRIBUTES
    comparisons = list(comparisons)
    if len(comparisons) > MAX_COMPARISONS:
        raise FilterError(f"At most {MAX_COMPARISONS} comparisons in one filter.")
    combined = Q()
    for comparison in comparisons:
        attribute = comparison.attribute.lower()
        if groups and attribute == "displayname":
            combined &= _display_name_q(comparison)
            continue
        if attribute not in table:
            return None
        field, kind = table[attribute]
        if attribute == "members.value":
            combined &= Q(memberships__ended_at__isnull=True)
        combined &= _lookup(field, kind, comparison)
    return combined


def _lookup(field: str, kind: str, comparison: Comparison) -> Q:
    op, value = comparison.op, comparison.value
    if op == "pr":
        # id and active are always present; text is present when neither null nor "".
        if kind in ("id", "boolean"):
            return Q()
        return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})
    if kind == "id":
        return _id_q(field, comparison)
    if kind == "boolean":
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise FilterError(f"{comparison.attribute} takes eq or ne with true or false.")
        q = Q(**{field: value})
        return ~q if op == "ne" else q
    text = _text_value(comparison)
    lookup = _TEXT_LOOKUPS[op] if kind == "exact" else "i" + _TEXT_LOOKUPS[op]
    q = Q(**{f"{field}__{lookup}": text})
    return ~q if op == "ne" else q


def _id_q(field: str, comparison: Comparison) -> Q:
    """Ids compare whole: eq and ne, with the id as a quoted string (or a number). A
    string that is no id matches nothing (eq) or everything (ne), as for any string."""
    op, value = comparison.op, comparison.value
    if op not in ("eq", "ne"):
        raise FilterError(f"{comparison.attribute} takes eq, ne or pr.")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FilterError(f"{comparison.attribute} takes a quoted id.")
    key = as_id(str(value))
    if key is None:
        return ~Q(pk__in=[]) if op == "ne" else Q(pk__in=[])
    q = Q(**{field: key})
    return ~q if op == "ne" else q


def _text_value(comparison: Comparison) -> str:
    value = comparison.value
    if not isinstance(value, str):
        raise FilterError(f"{comparison.attribute} takes a quoted string.")
    # PostgreSQL text holds neither NUL nor lone surrogates: refuse them here, not as a 500.
    if "\x00" in value or not _encodes(value):
        raise FilterError(f"{comparison.attribute}: the value holds characters text cannot.")
    return value


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _display_name_q(comparison: Comparison) -> Q:
    if comparison.op == "pr":
        return Q()
    if comparison.op == "eq":
        return Q(pk__in=teams_named(_text_value(comparison)).values("pk"))
    return _lookup("name", "text", comparison)


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
