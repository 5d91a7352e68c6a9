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

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Q, QuerySet

from registry.audit.snapshot import chain_snapshot
from registry.models import AccessPath, PathFacts, TallyVersion
from registry.rules.actors import Actor
from registry.rules.facts import (
    ATTESTED_BIT,
    EXPIRING_BIT,
    NOT_SEEN_BIT,
    OWNED_STATUSES,
    RULE_BITS,
    RULE_MASK,
    UNOWNED_STATUSES,
    facts_expressions,
    fingerprint,
)
from registry.rules.policies import Policy
from registry.rules.posture import RULES, shared_external_ids
from registry.rules.status import Status
from registry.selectors.compiled import time_shifted
from registry.selectors.paths import team_visibility, visible_paths_q

TALLY_NAME = "paths"

# The classification's columns (rules/facts.facts_expressions).
FACT_NAMES = ("team_key", "status", "flags", "quality")
# PathFacts' columns, in the order the services write them.
FACT_COLUMNS = ("team_key", "status", "flags", "quality", "valid_until")
# The tally's columns, each with the SQL that counts it from one path's facts.
TALLY_COLUMNS: dict[str, str] = {
    "paths": "1",
    "quality": "quality",
    "expiring": f"CASE WHEN (flags & {EXPIRING_BIT}) <> 0 THEN 1 ELSE 0 END",
    "not_seen": f"CASE WHEN (flags & {NOT_SEEN_BIT}) <> 0 THEN 1 ELSE 0 END",
    "violating": f"CASE WHEN (flags & {RULE_MASK}) <> 0 THEN 1 ELSE 0 END",
    "attested": f"CASE WHEN (flags & {ATTESTED_BIT}) <> 0 THEN 1 ELSE 0 END",
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


def _facts_select(now: dt.datetime, policy: Policy, shared: Any) -> tuple[str, list]:
    """SELECT <every path's facts at `now`> FROM the paths table, with no WHERE: the
    caller appends its rows' condition. Compiled once per policy (selectors/compiled.py)
    when nothing but `now` varies; the shared twins of a direct count are a query of
    their own, compiled each time."""

    def build(moment: dt.datetime) -> QuerySet:
        facts = facts_expressions(now=moment, policy=policy, shared=shared)
        return (
            AccessPath.objects.order_by()
            .annotate(**{f"x_{name}": expression for name, expression in facts.items()})
            .values(*(f"x_{name}" for name in facts))
        )

    if shared is not None:
        sql, params = build(now).query.sql_with_params()
        return sql, list(params)
    return time_shifted(("tally-facts", fingerprint(policy)), build, now)


def rows_where(rows: Q) -> tuple[str, list]:
    """`rows` as a WHERE clause on the paths table alone ("" for every row): a condition
    that needs a join (a path's facts, say) becomes `id IN (SELECT …)`."""
    query = AccessPath.objects.filter(rows).order_by().query
    if len(query.alias_map) > 1:
        query = AccessPath.objects.filter(pk__in=AccessPath.objects.filter(rows).values("pk")).query
    compiler = query.get_compiler(using=AccessPath.objects.db)
    try:
        sql, params = compiler.compile(query.where)
    except FullResultSet:
        return "", []
    return f" WHERE {sql}", list(params)


def _exact_facts_sql(rows: Q, *, now: dt.datetime, policy: Policy, shared: Any) -> tuple[str, list]:
    select, select_params = _facts_select(now, policy, shared)
    where, where_params = rows_where(rows)
    columns = ", ".join(f"x_{name} AS {name}" for name in FACT_NAMES)
    return (
        f"SELECT {columns} FROM ({select}{where}) AS exact",  # noqa: S608
        [*select_params, *where_params],
    )


def _among(statuses: Any) -> str:
    return "status IN ({})".format(", ".join(f"'{status.value}'" for status in statuses))


_OWNED_ONLY = ("violating", "quality")
# The dashboard's figures per team from the parts' rows per (team, status): each status,
# what counts over every status, and what counts over the owned ones only.
_PER_TEAM = ", ".join(
    [
        *(f"SUM(paths) FILTER (WHERE status = '{s.value}') AS status_{s.value}" for s in Status),
        *(f"SUM({name}) AS {name}" for name in TALLY_COLUMNS if name not in _OWNED_ONLY),
        f"SUM(paths) FILTER (WHERE {_among(OWNED_STATUSES)}) AS owned",
        f"SUM(violating) FILTER (WHERE {_among(OWNED_STATUSES)}) AS violating",
        f"SUM(quality) FILTER (WHERE {_among(OWNED_STATUSES)}) AS quality",
    ]
)


def _sum_rows(parts: list[tuple[str, list]]) -> list[dict]:
    union = " UNION ALL ".join(sql for sql, _ in parts)
    params = [p for _, part_params in parts for p in part_params]
    sql = f"SELECT team_key, {_PER_TEAM} FROM ({union}) AS parts GROUP BY team_key"  # noqa: S608
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
    exact_rows, related = run_out, None
    if scope is not None:
        # A team's reader: the paths its teams own and the claimable ones (every team
        # sees them) come from the tally like the whole estate's, by their stored owner
        # and status (a claimable path's stored status is unowned or claim pending
        # unless its facts ran out); the related ones its teams do not own (stewarded,
        # to revoke, offered) are counted exactly, from their own index ranges.
        teams = sorted(actor.team_ids)
        seen = team_visibility(teams)
        statuses = [s.value for s in UNOWNED_STATUSES]
        covered_sql = "team_key IN ({}) OR status IN ({})".format(
            ", ".join(str(int(team)) for team in teams),
            ", ".join(f"'{status}'" for status in statuses),
        )
        tally_sql += f" WHERE {covered_sql}"
        stored = stored.filter(Q(team_key__in=teams) | Q(status__in=statuses))
        exact_rows = run_out & (seen.owned | seen.claimable)
        # Two parts, not one OR: each is read from its own index.
        related = Q(pk__in=seen.related_ids) & ~seen.owned & ~seen.claimable
    parts: list[tuple[str, list]] = [(tally_sql, [])]
    if listed:
        parts.append(_stored(stored))
        parts.append(_exact_sums(exact_rows, now=now, policy=policy))
    if related is not None:
        parts.append(_exact_sums(related, now=now, policy=policy))
    return parts


def _exact_sums(rows: Q, *, now: dt.datetime, policy: Policy) -> tuple[str, list]:
    sql, params = _exact_facts_sql(rows, now=now, policy=policy, shared=None)
    return tally_sums_sql(sql, sign=1), params


def tally_groups(actor: Actor, *, now: dt.datetime, policy: Policy) -> list[dict]:
    """The dashboard's counts per owning team (owner_team_id None for unowned paths):
    status_<status>, expiring, not_seen, r_<rule>, attested (in cycle), violating and quality (the
    mean of filled recommended fields over owned paths, None without any)."""
    try:
        # One snapshot: a write committing between the reads cannot be counted twice
        # or not at all (registry/audit/snapshot.py; read-only, blocks no writer).
        with chain_snapshot():
            sums = _sum_rows(_parts(actor, now=now, policy=policy))
    except EmptyResultSet:  # an outsider: nothing is visible
        return []
    groups = []
    for row in sums:
        if not row["paths"]:
            continue
        group = {"owner_team_id": row.pop("team_key") or None, **_NO_FIGURES}
        owned, quality = int(row.pop("owned") or 0), int(row.pop("quality") or 0)
        for name, value in row.items():
            if value:
                group[name] = int(value)
        group["quality"] = quality / owned if owned else None
        del group["paths"]
        groups.append(group)
    return groups


# Every figure of a team's group, zero until counted.
_NO_FIGURES: dict[str, Any] = {
    **{f"status_{s.value}": 0 for s in Status},
    **{name: 0 for name in ("paths", "expiring", "not_seen", "attested", "violating")},
    **{f"r_{rule.code}": 0 for rule in RULES},
}


# The statuses of a live path (rules.status.live_q): what the framework controls measure.
LIVE_STATUSES = (*UNOWNED_STATUSES, *OWNED_STATUSES)


def live_rule_counts(*, now: dt.datetime, policy: Policy) -> dict[tuple[str, int], int]:
    """Every live path of the estate counted per (status, the posture-rule bits it
    breaks), exact at `now`, in one statement over the stored facts (a grouped pass
    over PathFacts, a narrow table) plus the paths whose facts ran out classified now —
    the same parts tally_groups sums, grouped by the rule bits as well, so that "breaks
    none of these rules" can be counted for any set of rules (rules/frameworks.py).
    When the stored facts were computed under other rules or another policy, every path
    is classified now instead: slower, never wrong."""
    with chain_snapshot():
        if not tally_is_current(policy):
            parts = [_exact_facts_sql(Q(), now=now, policy=policy, shared=shared_external_ids(now))]
        else:
            ran_out = PathFacts.objects.filter(valid_until__lte=now).order_by()
            listed = list(ran_out.values_list("path_id", flat=True)[: RUN_OUT_IDS_LIMIT + 1])
            valid = PathFacts.objects.filter(valid_until__gt=now).order_by()
            sql, params = valid.values(*FACT_NAMES).query.sql_with_params()
            parts = [(sql, list(params))]
            if listed:
                run_out = (
                    Q(pk__in=listed)
                    if len(listed) <= RUN_OUT_IDS_LIMIT
                    else Q(facts__valid_until__lte=now)
                )
                parts.append(_exact_facts_sql(run_out, now=now, policy=policy, shared=None))
        columns = ", ".join(FACT_NAMES)
        union = " UNION ALL ".join(
            f"SELECT {columns} FROM ({sql}) AS p{i}"  # noqa: S608
            for i, (sql, _) in enumerate(parts)
        )
        statement = (
            f"SELECT status, (flags & {RULE_MASK}) AS rule_bits, COUNT(*) "  # noqa: S608
            f"FROM ({union}) AS facts WHERE {_among(LIVE_STATUSES)} GROUP BY 1, 2"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [p for _, part_params in parts for p in part_params])
            return {(status, int(bits)): int(n) for status, bits, n in cursor.fetchall()}
