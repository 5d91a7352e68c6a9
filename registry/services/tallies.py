"""Keep the dashboard's tally true, in the transaction of every write (models/tallies.py).

- `refresh_facts(ids)`: after a write to paths, reclassify them and their external-id
  twins (whose NHI8/NHI9 facts depend on them) and append the tally's deltas: minus
  what the paths were counted as, plus what they are now. Three statements per 2,000
  paths.
- `refresh_team_facts`, `refresh_system_facts`: after a team's or a system's change.
- `refresh_due_facts(now)`: the sweep's step for paths whose facts ran out by time.
- `fold_tally()`: the sweep folds appended deltas into one row per key.
- `rebuild_tallies(now)`: recompute everything (after a load, a policy change).

Concurrency: every write here runs under the writers' lock (runtime/writer_lock.py),
which lock_path, claimed_batches and audit_record_many take before any row lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from registry.models import AccessPath, PathFacts, PathTally, TallyVersion
from registry.rules.facts import (
    NEVER_VALID,
    facts_expressions,
    fingerprint,
    valid_until_expression,
)
from registry.rules.policies import Policy, current_policy
from registry.runtime.writer_lock import hold_writer_lock
from registry.selectors.compiled import time_shifted
from registry.selectors.tallies import (
    FACT_COLUMNS,
    TALLY_COLUMNS,
    TALLY_NAME,
    rows_where,
    tally_sums_sql,
)

# Paths per statement: below SQLite's bound on parameters, large enough for set-based work.
CHUNK = 2000


def _append_stored(path_ids: Sequence[Any], *, sign: int) -> None:
    # Driven by the ids (the primary key's index), never a join the planner might
    # loop over: the facts' statistics lag behind a rebuild.
    stored = PathFacts.objects.filter(path_id__in=path_ids).exclude(status="").order_by()
    facts_sql, params = stored.values(
        "team_key", "status", "flags", "quality"
    ).query.sql_with_params()
    columns = ", ".join(["team_key", "status", *TALLY_COLUMNS])
    select = tally_sums_sql(facts_sql, sign=sign)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO registry_pathtally ({columns}) {select}", params)


def _stored_facts_select(now: dt.datetime, policy: Policy) -> tuple[str, list]:
    """SELECT <every path's id, facts and valid_until at `now`> with no WHERE: the
    caller appends its rows' condition. Compiled once per policy and process
    (selectors/compiled.py): building the expression through the ORM cost about 100 ms
    of Python, which every registration and edit paid before its few-ms statement."""

    def build(moment: dt.datetime) -> QuerySet:
        computed: dict[str, Any] = {
            f"x_{name}": e for name, e in facts_expressions(now=moment, policy=policy).items()
        }
        computed["x_valid_until"] = valid_until_expression(now=moment, policy=policy)
        computed["x_path_id"] = F("pk")
        return AccessPath.objects.order_by().annotate(**computed).values(*computed)

    return time_shifted(("stored-facts", fingerprint(policy)), build, now)


def _store_facts(path_ids: Sequence[Any], *, now: dt.datetime, policy: Policy) -> None:
    """Upsert the paths' PathFacts rows with their classification at `now`."""
    select, select_params = _stored_facts_select(now, policy)
    where, where_params = rows_where(Q(pk__in=path_ids))
    columns = ", ".join(FACT_COLUMNS)
    picked = ", ".join(f"x_{name}" for name in FACT_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in FACT_COLUMNS)
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    statement = (
        f"INSERT INTO registry_pathfacts (path_id, {columns}) "  # noqa: S608
        f"SELECT x_path_id, {picked} FROM ({select}{where}) AS computed WHERE true "
        f"ON CONFLICT (path_id) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*select_params, *where_params])


def _reclassify(path_ids: Sequence[Any], *, now: dt.datetime, policy: Policy) -> None:
    _append_stored(path_ids, sign=-1)
    _store_facts(path_ids, now=now, policy=policy)
    _append_stored(path_ids, sign=+1)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _claim_version(policy: Policy, now: dt.datetime) -> None:
    """A first write names the rules and policy the facts are computed with. Until
    then every fact is unset or run out, which reads count directly, so the empty tally
    is true under any policy. A row naming another policy stays: reads count directly
    until the sweep rebuilds the tally (services.sweep)."""
    TallyVersion.objects.get_or_create(
        name=TALLY_NAME, defaults={"fingerprint": fingerprint(policy), "rebuilt_at": now}
    )


def refresh_facts(
    path_ids: Iterable[Any], *, now: dt.datetime, external_ids: Iterable[str] = ()
) -> None:
    """Reclassify these paths, and every path sharing an external id with them or
    carrying one of `external_ids` (a path's former id, whose twins lost it), at `now`.
    Runs in the caller's transaction; set-based, a few statements per 2,000 ids."""
    ids = sorted(set(path_ids), key=str)
    twins_of = {e for e in external_ids if e}
    if not ids and not twins_of:
        return
    hold_writer_lock()
    policy = current_policy()
    _claim_version(policy, now)
    for chunk in _chunks(ids):
        twins_of.update(
            AccessPath.objects.filter(pk__in=chunk)
            .exclude(external_id="")
            .values_list("external_id", flat=True)
        )
        _reclassify(chunk, now=now, policy=policy)
    # The twins: paths that share an external id with these, not already done.
    done = set(ids)
    for chunk in _chunks(sorted(twins_of)):
        # The empty id is never in `chunk`; saying so lets PostgreSQL use the partial
        # index on external_id (it cannot prove it from a list of more than 100 values
        # and read the whole table instead, 200 ms a batch at a million paths).
        twins = (
            AccessPath.objects.filter(external_id__in=chunk)
            .exclude(external_id="")
            .values_list("pk", flat=True)
        )
        for twin_chunk in _chunks([pk for pk in twins if pk not in done]):
            _reclassify(twin_chunk, now=now, policy=policy)


def refresh_team_facts(team_ids: Iterable[int], *, now: dt.datetime) -> None:
    """After a team gains or loses its last member, or is (de)activated: its paths'
    statuses and NHI1 facts follow the team."""
    for team_id in sorted(set(team_ids)):
        ids = AccessPath.objects.filter(owner_team_id=team_id).values_list("pk", flat=True)
        refresh_facts(list(ids), now=now)


def refresh_system_facts(system: str, *, now: dt.datetime) -> None:
    """After a system's control-point defaults change: its paths' missing-authority fact."""
    ids = AccessPath.objects.filter(system=system).values_list("pk", flat=True)
    refresh_facts(list(ids), now=now)


def refresh_due_facts(*, now: dt.datetime, batch: int = CHUNK) -> int:
    """Reclassify the paths whose facts ran out by `now` (the sweep's step), in batches
    of `batch`, each its own transaction; the number reclassified. Walks by id, so a
    path whose facts stay run-out (live past its expiry, until the sweep retires it) is
    done once per call."""
    done = 0
    last = None
    while True:
        with transaction.atomic():
            hold_writer_lock()
            due = PathFacts.objects.filter(valid_until__lte=now).order_by("path_id")
            if last is not None:
                due = due.filter(path_id__gt=last)
            ids = list(due.values_list("path_id", flat=True)[:batch])
            if not ids:
                return done
            refresh_facts(ids, now=now)
        done += len(ids)
        last = ids[-1]


def fold_tally() -> int:
    """Fold the appended deltas into one row per (team, status); the rows folded."""
    with transaction.atomic():
        hold_writer_lock()
        newest = PathTally.objects.order_by("-pk").values_list("pk", flat=True).first()
        if newest is None:
            return 0
        columns = ", ".join(TALLY_COLUMNS)
        sums = ", ".join(f"SUM({name})" for name in TALLY_COLUMNS)
        folded = PathTally.objects.filter(pk__lte=newest).count()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO registry_pathtally (team_key, status, {columns}) "  # noqa: S608
                f"SELECT team_key, status, {sums} FROM registry_pathtally WHERE id <= %s "
                "GROUP BY team_key, status HAVING SUM(paths) <> 0",
                [newest],
            )
        # Derived rows, replaced by their sum above in the same transaction.
        PathTally.objects.filter(pk__lte=newest).delete()
        return folded


def rebuild_tallies(*, now: dt.datetime | None = None, batch: int = 20_000) -> int:
    """Recompute every path's facts and the tally from scratch (after a bulk load or a
    policy change); the number of paths. Each batch is its own transaction, so writers
    keep going between batches, and reads stay exact throughout: a path not yet
    recomputed has facts that ran out, which a read counts directly."""
    now = now or timezone.now()
    policy = current_policy()
    with transaction.atomic():
        hold_writer_lock()
        PathFacts.objects.exclude(status="").update(status="", valid_until=NEVER_VALID)
        PathTally.objects.all().delete()
        TallyVersion.objects.update_or_create(
            name=TALLY_NAME, defaults={"fingerprint": fingerprint(policy), "rebuilt_at": now}
        )
    done = 0
    last = None
    while True:
        with transaction.atomic():
            hold_writer_lock()
            page = AccessPath.objects.order_by("pk")
            if last is not None:
                page = page.filter(pk__gt=last)
            ids = list(page.values_list("pk", flat=True)[:batch])
            if not ids:
                break
            # No twins to follow: every path is in some batch.
            for chunk in _chunks(ids, size=10_000 if connection.vendor == "postgresql" else CHUNK):
                _reclassify(chunk, now=now, policy=policy)
        done += len(ids)
        last = ids[-1]
    fold_tally()
    if connection.vendor == "postgresql":
        # Every row was rewritten (twice): the index on valid_until still holds an
        # entry for each old version, all "run out", which every read would visit
        # until a vacuum; and the statistics describe the table before. VACUUM cannot
        # run inside a transaction (a dry-run sweep): ANALYZE at least, then.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{command} registry_pathfacts")
    return done
