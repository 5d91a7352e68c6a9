"""The access-paths list read as plain rows (issue 15): a page of up to 200 paths was
model instances with their joined teams (Django's per-row machinery and the related
populators cost more than the page's query). Here a page is `values()` rows, turned into
the same JSON as AccessPathSerializer (tests/api/test_rendering.py compares them on every
kind of path; the control-point owners are worked out once per distinct combination).

The rules stay where they live: the status is `selectors.paths.attach_status` (which
applies rules/status.status_of), the authority is `rules.control_points`'
`control_point_owners` and `Authority`, given rows that carry the attributes they read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, cast

from django.db.models import QuerySet
from django.utils import timezone

from api.serializers import AccessPathSerializer, iso_datetime
from registry.models import AccessPath, CredentialIdentifier, SystemControlPolicy, Team
from registry.rules.control_points import (
    PATH_FIELDS,
    Authority,
    Owner,
    control_point_owners,
    policies_by_system,
)
from registry.rules.links import path_url
from registry.selectors.by_ids import revoker_slugs, rows_by_ids, tag_slugs
from registry.selectors.paths import attach_status

# The path's team references, each read as its id and its slug (the owner's activity too:
# the status reads it).
_TEAMS = (
    "owner_team", "steward_team", "approved_by_team", *PATH_FIELDS.values(), "merged_by_team",
)  # fmt: skip
# What the JSON shows as the path's own value, in the serializer's order.
_COMPUTED = {
    "id", "url", "owner_team", "steward_team", "status", "tags", "identifiers", "approval",
    "revoker_teams", "control_point_owners", "merged_by_team",
}  # fmt: skip
_FIELDS = AccessPathSerializer.Meta.fields
_PLAIN = [name for name in _FIELDS if name not in _COMPUTED]
# What the rules read besides the shown columns: team ids, the approval, expiry.
_READ = ["approved_by", "approved_at", "approval_ticket_url", "source_disabled_at"]
# Joined: the owner and the steward (most paths have them). The other teams are read in
# one query for the page when it names any: with six joins PostgreSQL spent 9-21 ms
# planning the page (0.2 ms with two) and 0.6 ms running it.
_JOINED = ("owner_team", "steward_team")
_UNJOINED = [team for team in _TEAMS if team not in _JOINED]
# What control_point_owners reads of a path besides its system (the memo's key).
_OWNER_INPUTS = ("steward_team_id", *(f"{field}_id" for field in PATH_FIELDS.values()))
COLUMNS = [
    "id",
    *dict.fromkeys([*_PLAIN, *_READ]),
    *(f"{team}_id" for team in _TEAMS),
    *(f"{team}__slug" for team in _JOINED),
    "owner_team__is_active",
]


class _Team:
    """A team as the rules read it from a row: its id, slug and whether it is active."""

    __slots__ = ("is_active", "pk", "slug")

    def __init__(self, pk: int, slug: str, is_active: bool = True) -> None:
        self.pk, self.slug, self.is_active = pk, slug, is_active


class _Row:
    """One page row with attribute access, as attach_status and control_point_owners read
    a path (`status` is set on it)."""

    id: Any
    system: str
    owner_team: _Team | None
    merged_by_team: _Team | None

    def __init__(self, values: dict[str, Any], slugs: dict[int, str]) -> None:
        self.__dict__.update(values)
        for team in _TEAMS:
            team_id = values[f"{team}_id"]
            slug = values[f"{team}__slug"] if team in _JOINED else slugs.get(team_id, "")
            setattr(self, team, None if team_id is None else _Team(team_id, slug))
        if self.owner_team is not None:
            self.owner_team.is_active = values["owner_team__is_active"]


def page_values(qs: QuerySet[AccessPath]) -> QuerySet:
    """The list's queryset as the rows `page_json` renders (dicts: the cursor paginator
    reads its position from them)."""
    return qs.values(*COLUMNS)


def _identifiers(condition: Any) -> QuerySet:
    live = CredentialIdentifier.objects.filter(condition, retired_at__isnull=True)
    return live.order_by("kind", "value").values_list("path_id", "kind", "value")


def _slugs(build: Callable[[Any], QuerySet], ids: Sequence[Any]) -> dict[Any, list[str]]:
    found: dict[Any, list[str]] = {pk: [] for pk in ids}
    for path_id, value in rows_by_ids(build, "accesspath_id", ids):
        found[path_id].append(value)
    return found


def page_json(values: Sequence[dict[str, Any]], *, now: dt.datetime | None = None) -> list:
    """The page's rows as AccessPathSerializer writes them: at most six more queries for
    any number of rows (owning teams' members, tags, identifiers, revoker teams, the
    systems' policies, and the approving and control-point teams when any is set), none
    when the page is empty."""
    if not values:
        return []
    others = {value[f"{team}_id"] for value in values for team in _UNJOINED} - {None}
    slugs = dict(Team.objects.filter(pk__in=others).values_list("pk", "slug")) if others else {}
    rows = [_Row(value, slugs) for value in values]
    attach_status(cast(list[AccessPath], rows), now=now or timezone.now())
    ids = [row.id for row in rows]
    tags = _slugs(tag_slugs, ids)
    revokers = _slugs(revoker_slugs, ids)
    identifiers: dict[Any, list[dict[str, str]]] = {pk: [] for pk in ids}
    for path_id, kind, value in rows_by_ids(_identifiers, "path_id", ids):
        identifiers[path_id].append({"kind": kind, "value": value})
    owners = _Owners(policies_by_system({row.system for row in rows}))
    return [_json(row, tags[row.id], identifiers[row.id], revokers[row.id], owners) for row in rows]


class _Owners:
    """Each distinct (system, steward, iam, pam, secops) combination's control-point
    owners as JSON, from control_point_owners once: a page has a handful."""

    def __init__(self, policies: dict[str, SystemControlPolicy]) -> None:
        self._policies = policies
        self._known: dict[tuple[Any, ...], dict[str, Any]] = {}

    def json(self, path: AccessPath) -> dict[str, Any]:
        key = (path.system, *(getattr(path, name) for name in _OWNER_INPUTS))
        found = self._known.get(key)
        if found is None:
            owners = control_point_owners(path, self._policies.get(path.system))
            found = self._known[key] = _authority(path, [], owners).owners_json()
        return found


def _authority(path: AccessPath, revokers: list[str], owners: dict[str, Owner]) -> Authority:
    return Authority(
        approved_by=path.approved_by,
        approved_by_team=path.approved_by_team,
        approved_at=path.approved_at,
        approval_ticket_url=path.approval_ticket_url,
        # Only their slugs are shown.
        revoker_teams=cast(list[Team], [_Team(0, slug) for slug in revokers]),
        owners=owners,
    )


def _json(
    row: _Row,
    tags: list[str],
    identifiers: list[dict[str, str]],
    revokers: list[str],
    owners: _Owners,
) -> dict[str, Any]:
    path = cast(AccessPath, row)
    authority = _authority(path, revokers, {})
    values = row.__dict__
    computed: dict[str, Any] = {
        "id": str(row.id),
        "url": path_url(row.id),
        "owner_team": values["owner_team__slug"],
        "steward_team": values["steward_team__slug"],
        "status": values["status"],
        "tags": tags,
        "identifiers": identifiers,
        "approval": authority.approval_json(),
        "revoker_teams": authority.revoker_slugs(),
        "control_point_owners": owners.json(path),
        "merged_by_team": row.merged_by_team.slug if row.merged_by_team else None,
    }
    data = {}
    for name in _FIELDS:
        if name in computed:
            data[name] = computed[name]
        else:
            value = values[name]
            data[name] = iso_datetime(value) if isinstance(value, dt.datetime) else value
    return data
