"""Who approved a path's authority, who may revoke it, and who owns its control points:
the one home of how these are resolved (a read).

Control points (the guidance's four places where access to a system is decided):

- `iam`: identity design (the IAM team) — the path's `iam_team`, else the system's;
- `pam`: the elevation boundary (PAM) — the path's `pam_team`, else the system's;
- `runtime`: the platform runtime — always the path's steward team;
- `secops`: security monitoring — the path's `secops_team`, else the system's.

A per-system default lives in `SystemControlPolicy`; a path's own value overrides it.
Pages, the API, exports, the evidence pack and triage all resolve through
`control_point_owners`; lists load what they need with `load_authority` in a constant
number of queries (policies, revoker teams, and teams not already joined), and the
posture rule uses `missing_owner_q`, the same definition in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from registry.models import AccessPath, SystemControlPolicy, Team

CONTROL_POINTS = ("iam", "pam", "runtime", "secops")
LABELS = {
    "iam": "IAM (identity design)",
    "pam": "PAM (elevation boundary)",
    "runtime": "Platform runtime (steward)",
    "secops": "Security operations (monitoring)",
}
# The control points a path may set itself (runtime is the steward, set as such).
PATH_FIELDS = {"iam": "iam_team", "pam": "pam_team", "secops": "secops_team"}
# The path's own team references that authority reads: joined by callers that render
# many paths (select_related(*TEAM_RELATIONS)) so nothing is fetched per path.
TEAM_RELATIONS = ("steward_team", "approved_by_team", "iam_team", "pam_team", "secops_team")
HIGH_RISK = (AccessPath.RiskTier.HIGH, AccessPath.RiskTier.CRITICAL)


class Source:
    PATH = "path"
    SYSTEM = "system"
    STEWARD = "steward"


@dataclass(frozen=True)
class Owner:
    """One control point's owner: the team (None: nobody) and where it comes from."""

    team: Team | None
    source: str | None

    @property
    def from_system(self) -> bool:
        return self.source == Source.SYSTEM

    def as_json(self) -> dict[str, Any]:
        return {"team": self.team.slug if self.team else None, "source": self.source}


@dataclass(frozen=True)
class Authority:
    """Everything a page or a row shows about a path's authority."""

    approved_by: str
    approved_by_team: Team | None
    approved_at: dt.datetime | None
    approval_ticket_url: str
    revoker_teams: list[Team]
    owners: dict[str, Owner]

    @property
    def approved(self) -> bool:
        return bool(self.approved_by) and self.approved_by_team is not None

    def approval_json(self) -> dict[str, Any]:
        at = self.approved_at
        return {
            "by": self.approved_by or None,
            "team": self.approved_by_team.slug if self.approved_by_team else None,
            "at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if at else None,
            "ticket_url": self.approval_ticket_url or None,
        }

    def owners_json(self) -> dict[str, dict[str, Any]]:
        return {point: self.owners[point].as_json() for point in CONTROL_POINTS}

    def revoker_slugs(self) -> list[str]:
        return [team.slug for team in self.revoker_teams]


def control_point_owners(path: AccessPath, policy: SystemControlPolicy | None) -> dict[str, Owner]:
    """The effective owner of each control point of `path`, given its system's policy
    row (or None). The path's related teams must be loaded (or it costs a query each)."""
    owners: dict[str, Owner] = {}
    for point in CONTROL_POINTS:
        if point == "runtime":
            steward = path.steward_team if path.steward_team_id else None
            owners[point] = Owner(steward, Source.STEWARD if steward else None)
            continue
        field = PATH_FIELDS[point]
        if getattr(path, f"{field}_id") is not None:
            owners[point] = Owner(getattr(path, field), Source.PATH)
        elif policy is not None and getattr(policy, f"{field}_id") is not None:
            owners[point] = Owner(getattr(policy, field), Source.SYSTEM)
        else:
            owners[point] = Owner(None, None)
    return owners


def policies_by_system(systems: Iterable[str] | None = None) -> dict[str, SystemControlPolicy]:
    """The policy rows (with their teams) of `systems`, or of every system: one query.
    One row per system, so a whole export reads them once."""
    qs = SystemControlPolicy.objects.select_related("iam_team", "pam_team", "secops_team")
    if systems is not None:
        qs = qs.filter(system__in=set(systems))
    return {policy.system: policy for policy in qs}


def _revoker_teams(paths: Sequence[AccessPath]) -> dict[Any, list[Team]]:
    """Each path's revoker teams: from a prefetch when the caller made one, else one
    query for all of them."""
    found: dict[Any, list[Team]] = {}
    missing = []
    for path in paths:
        cached = getattr(path, "_prefetched_objects_cache", {}).get("revoker_teams")
        if cached is not None:
            found[path.pk] = sorted(cached, key=lambda team: team.slug)
        else:
            missing.append(path.pk)
    if missing:
        through = AccessPath.revoker_teams.through
        rows = (
            through.objects.filter(accesspath_id__in=missing)
            .select_related("team")
            .order_by("team__slug")
        )
        for row in rows:
            found.setdefault(row.accesspath_id, []).append(row.team)
    return found


def _load_teams(paths: Sequence[AccessPath]) -> None:
    """Fill the path's team references a caller did not join, with one query."""
    wanted: dict[int, list[tuple[AccessPath, str]]] = {}
    for path in paths:
        for relation in TEAM_RELATIONS:
            team_id = getattr(path, f"{relation}_id")
            if team_id is not None and relation not in path._state.fields_cache:
                wanted.setdefault(team_id, []).append((path, relation))
    if not wanted:
        return
    for team in Team.objects.filter(pk__in=wanted):
        for path, relation in wanted[team.pk]:
            setattr(path, relation, team)


def load_authority(
    paths: Sequence[AccessPath], policies: dict[str, SystemControlPolicy] | None = None
) -> None:
    """Attach `authority` to each path: at most three queries for any number of paths
    (the systems' policies unless given, the revoker teams unless prefetched, the teams
    not already joined)."""
    if not paths:
        return
    if policies is None:
        policies = policies_by_system({path.system for path in paths})
    revokers = _revoker_teams(paths)
    _load_teams(paths)
    for path in paths:
        path.authority = _authority(path, policies.get(path.system), revokers.get(path.pk, []))


def _authority(
    path: AccessPath, policy: SystemControlPolicy | None, revokers: list[Team]
) -> Authority:
    return Authority(
        approved_by=path.approved_by,
        approved_by_team=path.approved_by_team if path.approved_by_team_id else None,
        approved_at=path.approved_at,
        approval_ticket_url=path.approval_ticket_url,
        revoker_teams=revokers,
        owners=control_point_owners(path, policy),
    )


def authority_of(path: AccessPath) -> Authority:
    """The path's authority, as attached by load_authority, else loaded for it alone."""
    if getattr(path, "authority", None) is None:
        load_authority([path])
    return path.authority


# --- the same rules in SQL (posture NHI-style rule `missing_authority`) ---------------


def missing_approver_q() -> Q:
    return Q(approved_by="") | Q(approved_by_team__isnull=True)


def missing_owner_q() -> Q:
    """Paths with a control point nobody owns, after the system's default. Uncorrelated
    `IN (systems with a default)` sets: PostgreSQL hashes each once for the estate."""
    missing = Q(steward_team__isnull=True)
    for field in PATH_FIELDS.values():
        with_default = SystemControlPolicy.objects.filter(**{f"{field}__isnull": False})
        missing |= Q(**{f"{field}__isnull": True}) & ~Q(system__in=with_default.values("system"))
    return missing


def owned_by_q(point: str, team: Team) -> Q:
    """Paths whose effective `point` owner (iam, pam or secops) is `team`: its own value,
    or none and its system's default (control_point_owners, in SQL). The path's own value
    uses its partial index; the default is an uncorrelated `IN (systems)` set."""
    field = PATH_FIELDS[point]
    defaults = SystemControlPolicy.objects.filter(**{field: team}).values("system")
    return Q(**{field: team}) | (Q(**{f"{field}__isnull": True}) & Q(system__in=defaults))


def missing_authority_q() -> Q:
    """High or critical paths without an approver or without a control-point owner."""
    return Q(risk_tier__in=HIGH_RISK) & (missing_approver_q() | missing_owner_q())


# --- reads of the per-system policies --------------------------------------------------


def policy_queryset() -> QuerySet[SystemControlPolicy]:
    return SystemControlPolicy.objects.select_related(
        "iam_team", "pam_team", "secops_team"
    ).order_by("system")


def with_authority(paths: Iterable[AccessPath], chunk: int) -> Iterator[AccessPath]:
    """`paths` (a streamed export), each with its `authority`: the systems' policies
    read once, the revoker teams and missing teams once per `chunk` paths."""
    policies = policies_by_system()
    batch: list[AccessPath] = []
    for path in paths:
        batch.append(path)
        if len(batch) == chunk:
            load_authority(batch, policies)
            yield from batch
            batch = []
    load_authority(batch, policies)
    yield from batch
