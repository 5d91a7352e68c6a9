"""The dashboard's figures from the tally, exact at the moment of the read.

In one snapshot (so a write committing meanwhile cannot be counted twice or not at
all), the paths whose facts have run out are listed (an index range, usually a
handful), then one statement sums three parts per (owner team, status):
1. the tally's appended deltas: every path as last classified;
2. minus the stored facts of the paths whose facts have run out (PathFacts.valid_until
   <= now, an index range: what time changed since the last sweep);
3. plus those paths classified exactly now, from the same expressions the services
   store (rules/facts.py).
A team's reader sees the unowned paths (every team may claim them) from the tally and
its own paths counted exactly (a team's own paths are few). When the stored facts were
computed under other rules or another policy (rules.facts.fingerprint), every visible
path is counted exactly instead: slower, never wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet

from registry.audit.snapshot import chain_snapshot
from registry.models import AccessPath, PathFacts, TallyVersion
from registry.rules.actors import Actor
from registry.rules.facts import (
    CURRENT_STATUSES,
    EXPIRING_BIT,
    NOT_SEEN_BIT,
    OWNED_STATUSES,
    RULE_BITS,
    RULE_MASK,
    UNOWNED_STATES,
    UNOWNED_STATUSES,
    facts_expressions,
    fingerprint,
)
from registry.rules.policies import Policy
from registry.rules.posture import RULES, shared_external_ids
from registry.rules.status import Status
from registry.selectors.paths import visible_paths_q

TALLY_NAME = "paths"

# PathFacts' columns, in the order the services write them.
FACT_COLUMNS = ("team_key", "status", "flags", "quality", "valid_until")
# The tally's columns, each with the SQL that counts it from one path's facts.
TALLY_COLUMNS: dict[str, str] = {
    "paths": "1",
    "quality": "quality",
    "expiring": f"CASE WHEN (flags & {EXPIRING_BIT}) <> 0 THEN 1 ELSE 0 END",
    "not_seen": f"CASE WHEN (flags & {NOT_SEEN_BIT}) <> 0 THEN 1 ELSE 0 END",
    "violating": f"CASE WHEN (flags & {RULE_MASK}) <> 0 THEN 1 ELSE 0 END",
    **{
        f"r_{code}": f"CASE WHEN (flags & {bit}) <> 0 THEN 1 ELSE 0 END"
        for code, bit in RULE_BITS.items()
    },
}


def tally_sums_sql(facts_sql: str, *, sign: int) -> str:
    """The tally's columns summed per key over `facts_sql`, a relation of rows with
    team_key, status, flags and quality; signed."""
    sums = ", ".join(f"{sign} * SUM({expr}) AS {name}" for name, expr in TALLY_COLUMNS.items())
    return (
        f"SELECT team_key, status, {sums} "  # noqa: S608
        f"FROM ({facts_sql}) AS facts GROUP BY team_key, status"
    )


def tally_is_current(policy: Policy) -> bool:
    """Whether the stored facts were computed with these rules and this policy."""
    return TallyVersion.objects.filter(name=TALLY_NAME, fingerprint=fingerprint(policy)).exists()


def _exact_facts_sql(rows: Q, *, now: dt.datetime, policy: Policy, shared: Any) -> tuple[str, list]:
    facts = facts_expressions(now=now, policy=policy, shared=shared)
    qs = (
        AccessPath.objects.filter(rows)
        .order_by()
        .annotate(**{f"x_{name}": expression for name, expression in facts.items()})
        .values(*(f"x_{name}" for name in facts))
    )
    sql, params = qs.query.sql_with_params()
    columns = ", ".join(f"x_{name} AS {name}" for name in facts)
    return f"SELECT {columns} FROM ({sql}) AS exact", list(params)  # noqa: S608


def _sum_rows(parts: list[tuple[str, list]]) -> list[dict]:
    names = ", ".join(f"SUM({name}) AS {name}" for name in TALLY_COLUMNS)
    union = " UNION ALL ".join(sql for sql, _ in parts)
    params = [p for _, part_params in parts for p in part_params]
    sql = (
        f"SELECT team_key, status, {names} FROM ({union}) AS parts "  # noqa: S608
        "GROUP BY team_key, status"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


# Past this many run-out paths, a read selects them inside its one statement instead of
# listing their ids first (a sweep that has not run for long; still exact).
RUN_OUT_IDS_LIMIT = 5000


def _stored(facts: QuerySet) -> tuple[str, list]:
    sql, params = facts.values("team_key", "status", "flags", "quality").query.sql_with_params()
    return tally_sums_sql(sql, sign=-1), list(params)


def _parts(actor: Actor, *, now: dt.datetime, policy: Policy) -> list[tuple[str, list]]:
    scope = visible_paths_q(actor)
    if scope is not None and not actor.team_ids:
        raise EmptyResultSet  # an outsider: nothing is visible
    if not tally_is_current(policy):
        rows = scope if scope is not None else Q()
        exact = _exact_facts_sql(rows, now=now, policy=policy, shared=shared_external_ids(now))
        return [(tally_sums_sql(exact[0], sign=1), exact[1])]
    tally_columns = ", ".join(["team_key", "status", *TALLY_COLUMNS])
    tally_sql = f"SELECT {tally_columns} FROM registry_pathtally"  # noqa: S608
    # The run-out paths: listed first (an index range, usually a handful), so the
    # statement below is planned for exactly them.
    ran_out = PathFacts.objects.filter(valid_until__lte=now).order_by()
    listed = list(ran_out.values_list("path_id", flat=True)[: RUN_OUT_IDS_LIMIT + 1])
    stored = ran_out.exclude(status="")
    if len(listed) <= RUN_OUT_IDS_LIMIT:
        stored, run_out = stored.filter(path_id__in=listed), Q(pk__in=listed)
    else:
        run_out = Q(facts__valid_until__lte=now)
    if scope is None:
        exact_rows = run_out
    else:
        # The unowned paths every team sees come from the tally; the reader's own are
        # counted exactly. A path counts as unowned by its state (visible_paths_q);
        # a fresh row's stored status is unowned/claim pending exactly then.
        statuses = [s.value for s in UNOWNED_STATUSES]
        tally_sql += " WHERE status IN ({})".format(", ".join(f"'{s}'" for s in statuses))
        stored = stored.filter(status__in=statuses)
        unowned = Q(state__in=UNOWNED_STATES)
        exact_rows = (run_out & unowned) | (scope & ~unowned)
    parts: list[tuple[str, list]] = [(tally_sql, [])]
    if listed:
        parts.append(_stored(stored))
    if scope is not None or listed:
        exact_sql, exact_params = _exact_facts_sql(exact_rows, now=now, policy=policy, shared=None)
        parts.append((tally_sums_sql(exact_sql, sign=1), exact_params))
    return parts


def tally_groups(actor: Actor, *, now: dt.datetime, policy: Policy) -> list[dict]:
    """The dashboard's counts per owning team (owner_team_id None for unowned paths):
    status_<status>, expiring, not_seen, r_<rule>, current, violating and quality (the
    mean of filled recommended fields over owned paths, None without any)."""
    try:
        # One snapshot: a write committing between the reads cannot be counted twice
        # or not at all (registry/audit/snapshot.py; read-only, blocks no writer).
        with chain_snapshot():
            sums = _sum_rows(_parts(actor, now=now, policy=policy))
    except EmptyResultSet:  # an outsider: nothing is visible
        return []
    by_team: dict[int, dict] = {}
    for row in sums:
        paths = int(row["paths"] or 0)
        if not paths:
            continue
        group = by_team.setdefault(row["team_key"], _empty_group(row["team_key"]))
        status = row["status"]
        group[f"status_{status}"] += paths
        for name in ("expiring", "not_seen", *(f"r_{rule.code}" for rule in RULES)):
            group[name] += int(row[name] or 0)
        if status in CURRENT_STATUSES:
            group["current"] += paths
        if status in OWNED_STATUSES:
            group["violating"] += int(row["violating"] or 0)
            group["_owned"] += paths
            group["_quality"] += int(row["quality"] or 0)
    groups = []
    for group in by_team.values():
        owned, quality = group.pop("_owned"), group.pop("_quality")
        group["quality"] = quality / owned if owned else None
        groups.append(group)
    return groups


def _empty_group(team_key: int) -> dict:
    group: dict[str, Any] = {"owner_team_id": team_key or None}
    group.update({f"status_{s.value}": 0 for s in Status})
    group.update({name: 0 for name in ("expiring", "not_seen", "current", "violating")})
    group.update({f"r_{rule.code}": 0 for rule in RULES})
    group.update(_owned=0, _quality=0)
    return group
