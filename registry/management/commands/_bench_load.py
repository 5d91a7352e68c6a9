"""The benchmark's estate: a realistic mix of every status, loaded fast.

The people (202 teams, their members, a security reviewer, an admin) are a few hundred
rows written through the ORM. The bulk (paths, their tags, identifiers and attestations)
goes in with COPY into tables stripped of their secondary indexes and foreign keys, which
are recreated afterwards: building an index once over sorted data is several times
cheaper than maintaining it row by row, and one validating join replaces a trigger call
per row and foreign key. The primary keys and check constraints stay, so the rows are
checked as they arrive. The definitions are read from the catalogue just before they are
dropped, so whatever indexes the migrations define today are the ones rebuilt.
"""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from psycopg import sql

from registry.management.commands._bench_triage import bench_fingerprint, bench_key_id
from registry.models import AccessPath, Membership, Tag, Team
from registry.rules.policies import current_policy
from registry.rules.posture import derived_facts
from registry.runtime.request_id import request_context

OWNING_TEAMS = 200
# The last two owning teams have nobody in them any more (their members left): their
# paths are lapsed at once (NHI1).
EMPTY_TEAMS = 2
UNOWNED_SHARE = 0.10
SYSTEMS = ["aws", "gcp", "azure", "github", "gitlab", "kubernetes", "vault", "okta",
           "snowflake", "datadog", "stripe", "salesforce"]  # fmt: skip
PURPOSES = ["billing-export", "ledger-sync", "fraud-scoring", "payout-batch", "etl-loader",
            "dbt-runner", "feature-store", "warehouse-sync", "crm-sync", "log-shipper",
            "deploy-bot", "backup-agent", "search-indexer", "report-mailer"]  # fmt: skip
SEARCH_TERM = "ledger"
SCOPES = ["read-only on one bucket"] * 6 + ["s3:GetObject on exports/*", "AdministratorAccess",
                                           "roles/editor", "*:*"]  # fmt: skip
TAGS = ["pci", "sox", "soc2-scope", "gdpr", "customer-data", "break-glass", "legacy", "tier-0"]
REVIEWER = "bench-reviewer"
ADMIN = "bench-admin"
# One path in 40 reuses the external id of the path before it and one in 40 that of
# the path two before (a different system and environment each time): the NHI8/NHI9
# "same identity in several places" posture rules have work to do.
SHARED_EVERY = 40

BULK_TABLES = [
    "registry_accesspath",
    "registry_accesspath_tags",
    "registry_credentialidentifier",
    "registry_attestation",
]


@dataclass
class People:
    owning: list[Team]
    platform: Team
    reviewer: User
    admin: User
    members: dict[int, User]  # owning team id -> a member (or the one who left)


@dataclass
class LoadReport:
    paths: int = 0
    tags: int = 0
    identifiers: int = 0
    attestations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    slowest_indexes: list[tuple[str, float]] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def make_people(now: dt.datetime) -> People:
    """Teams, one lead each (the empty teams' leads have left), a security reviewer and
    a superuser for the admin."""

    def team(slug: str, kind: str) -> Team:
        return Team(
            slug=slug, name=slug.replace("-", " ").title(), kind=kind,
            email=f"{slug}@example.com", created_at=now, updated_at=now,
        )  # fmt: skip

    owning = [team(f"team-{i:03d}", Team.Kind.PRODUCT) for i in range(OWNING_TEAMS)]
    Team.objects.bulk_create(
        [*owning, team("security", Team.Kind.SECURITY), team("platform", Team.Kind.PLATFORM)]
    )
    teams = {t.slug: t for t in Team.objects.all()}
    user_model = get_user_model()
    users = [user_model(username=f"member-{i:03d}") for i in range(OWNING_TEAMS)]
    users += [
        user_model(username=REVIEWER),
        user_model(username=ADMIN, is_staff=True, is_superuser=True),
    ]
    for user in users:
        user.set_unusable_password()
    user_model.objects.bulk_create(users)
    by_name = {u.username: u for u in user_model.objects.all()}
    left = now - dt.timedelta(days=30)
    memberships = [
        Membership(
            user=by_name[f"member-{i:03d}"], team=teams[f"team-{i:03d}"],
            role=Membership.Role.LEAD, started_at=now - dt.timedelta(days=800),
            ended_at=left if i >= OWNING_TEAMS - EMPTY_TEAMS else None,
        )
        for i in range(OWNING_TEAMS)
    ]  # fmt: skip
    memberships.append(Membership(user=by_name[REVIEWER], team=teams["security"], started_at=now))
    Membership.objects.bulk_create(memberships)
    Tag.objects.bulk_create([Tag(slug=slug) for slug in TAGS])
    return find_people()


def find_people() -> People:
    """The people of an estate loaded earlier (--reuse)."""
    teams = {t.slug: t for t in Team.objects.all()}
    owning = [teams[f"team-{i:03d}"] for i in range(OWNING_TEAMS)]
    users = {u.username: u for u in get_user_model().objects.all()}
    members = {team.pk: users[f"member-{i:03d}"] for i, team in enumerate(owning)}
    return People(owning, teams["platform"], users[REVIEWER], users[ADMIN], members)


def _ddl(cur: psycopg.Cursor) -> tuple[list[str], list[str], list[str]]:
    """Drop statements, and the index and constraint statements that recreate them."""
    drops: list[str] = []
    indexes: list[str] = []
    constraints: list[str] = []
    tables = ", ".join(f"'{t}'::regclass" for t in BULK_TABLES)
    # Foreign keys and unique constraints of the bulk tables (the primary keys stay).
    cur.execute(
        f"SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "  # noqa: S608 - our table names
        f"FROM pg_constraint WHERE conrelid IN ({tables}) AND contype IN ('f', 'u') "
        "ORDER BY contype DESC, conname"
    )
    for table, name, definition, kind in cur.fetchall():
        statement = f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'
        # Foreign keys first: a unique constraint may back one.
        drops.insert(0, statement) if kind == "f" else drops.append(statement)
        add = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        (constraints if kind == "f" else indexes).append(add)
    # Plain and partial indexes (not backing a constraint).
    cur.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "  # noqa: S608 - our table names
        f"WHERE indrelid IN ({tables}) AND NOT indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    )
    for name, definition in cur.fetchall():
        drops.append(f"DROP INDEX {name}")
        indexes.append(definition)
    return drops, indexes, constraints


def _column_defaults(varying: list[str], fixed: dict[str, Any]) -> dict[str, Any]:
    """The value of every column of the paths table the generator does not write per
    row: `fixed` where given, else the model's default (nullable columns without one
    stay null). A column a later migration adds with a default needs no
    change here."""
    defaults = {}
    for f in AccessPath._meta.concrete_fields:
        if f.column in varying:
            continue
        if f.column in fixed:
            defaults[f.column] = fixed[f.column]
        elif f.has_default() or not f.null:
            # Django's own default for a NOT NULL column without one: "" for text.
            defaults[f.column] = f.get_default()
    return defaults


def _text(value: Any) -> str:
    """A value in COPY's text format (the generator's strings hold no tab, newline or
    backslash)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


# Varying per path, in the order of the generator's lines.
VARYING = [
    "id", "name", "kind", "system", "external_id", "environment", "owner_team_id",
    "created_via", "created_by_ref", "consumers", "ticket_url", "justification",
    "privilege_scope", "risk_tier", "credential_lifetime", "rotation_days", "last_used_at",
    "rotation_due_at", "broad_scope", "several_consumers", "expires_at",
    "review_interval_days", "last_attested_at", "next_review_at", "state",
    "state_changed_at", "created_at", "updated_at", "interactive_login", "approved_by",
]  # fmt: skip
CHUNK_ROWS = 5_000


@dataclass
class _Spool:
    """A side table's rows, written to a temporary file while the paths stream, then
    COPYed: memory stays flat at a million paths."""

    table: str
    columns: str
    file: Any = None
    rows: int = 0

    def __post_init__(self) -> None:
        self.file = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed in copy_into

    def write(self, text: str) -> None:
        self.file.write(text.encode())
        self.rows += text.count("\n")

    def copy_into(self, cur: psycopg.Cursor) -> None:
        self.file.seek(0)
        statement = f"COPY {self.table} ({self.columns}) FROM STDIN"
        with cur.copy(statement) as copy:
            while chunk := self.file.read(1 << 20):
                copy.write(chunk)
        self.file.close()


@dataclass(frozen=True)
class _Plan:
    """Everything a chunk of the estate is generated from: plain values, so that worker
    processes can generate chunks without touching the database."""

    n: int
    now: dt.datetime  # naive UTC: the load's session runs in UTC (isoformat is faster)
    owning: tuple[int, ...]
    cumulative: tuple[float, ...]
    team_slug: dict[int, str]
    member: dict[int, str]
    tag_ids: tuple[str, ...]


def _chunk(plan: _Plan, index: int) -> tuple[str, str, str, str]:
    """Rows [index * CHUNK_ROWS, …) of the estate as COPY text: the paths, their tags,
    identifiers and attestations. Each chunk has its own seeded generator, so the
    estate is the same whichever process generates which chunk."""
    rng = random.Random(20261122 * 1_000_003 + index)  # noqa: S311 - reproducible, no secret
    random_bits, uniform, chance, choice = rng.getrandbits, rng.uniform, rng.random, rng.choice
    policy = current_policy()
    now, owning, cumulative = plan.now, plan.owning, plan.cumulative
    team_slug, member, tag_ids = plan.team_slug, plan.member, plan.tag_ids
    tag_counts = [0, 0, 1, 1, 2]
    kinds, envs = AccessPath.Kind.values, AccessPath.Environment.values
    tiers, vias = AccessPath.RiskTier.values, AccessPath.CreatedVia.values
    lifetimes = AccessPath.CredentialLifetime.values
    rotations = [None, 30, 90, 365]
    intervals = {tier: policy.interval_for(tier) for tier in tiers}
    day = dt.timedelta(days=1)
    stamp = now.isoformat()
    null = "\\N"
    # The posture flags depend on scope and consumers only: computed once per pair by
    # the rules' own function, not per row.
    flags: dict[tuple[str, str], tuple[str, str]] = {}
    lines: list[str] = []
    tags: list[str] = []
    identifiers: list[str] = []
    attestations: list[str] = []
    for i in range(index * CHUNK_ROWS, min(plan.n, (index + 1) * CHUNK_ROWS)):
        pk = str(uuid.UUID(int=random_bits(128), version=4))
        tier = tiers[i % 4]
        interval = intervals[tier]
        created = now - day * uniform(1, 730)
        purpose, system = choice(PURPOSES), SYSTEMS[i % 12]
        shared = i % SHARED_EVERY
        external_id = f"bench-{i - shared:07d}" if shared in (1, 2) else f"bench-{i:07d}"
        owner = None
        if chance() >= UNOWNED_SHARE:
            owner = rng.choices(owning, cum_weights=cumulative)[0]
        next_review: dt.datetime | None = None
        attested: dt.datetime | None = None
        expires: dt.datetime | None = now + day * uniform(20, 700)
        state_changed = created
        if owner is None:
            state = "claim_pending" if chance() < 0.2 else "unowned"
            expires = None if chance() < 0.5 else expires
        else:
            state, bucket = "active", chance()
            if bucket < 0.06:  # overdue: past review, not yet lapsed
                next_review = now - day * uniform(0.01, 13.9)
            elif bucket < 0.10:  # lapsed: 14+ days past review
                next_review = now - day * uniform(14.1, 200)
            elif bucket < 0.15:  # review due within the reminder window
                next_review = now + day * uniform(0.01, 13.9)
            else:
                next_review = now + day * uniform(14.1, max(interval, 15))
            if 0.15 <= bucket < 0.18:  # expired and swept
                state, expires = "expired", now - day * uniform(1, 300)
                state_changed = expires
            elif 0.18 <= bucket < 0.19:  # past expiry, before the sweep
                expires = now - day * uniform(0.01, 5)
            elif 0.19 <= bucket < 0.22:
                state, state_changed = "revoked", now - day * uniform(1, 300)
            elif 0.22 <= bucket < 0.25:  # expiring within the month
                expires = now + day * uniform(0.5, 29)
            if next_review - day * interval > created:
                attested = next_review - day * interval
                attestations.append(
                    f"{pk}\t{owner}\t{member[owner]}\tkeep\tt\tt\tt\tt\t\t"
                    f"{next_review.isoformat()}\t{attested.isoformat()}\n"
                )
        for tag in rng.sample(tag_ids, choice(tag_counts)):
            tags.append(f"{pk}\t{tag}\n")
        # Every path is findable by a key id and a fingerprint (triage).
        identifiers.append(f"{pk}\tkey_id\t{bench_key_id(i)}\tbench\t{stamp}\n")
        identifiers.append(f"{pk}\tfingerprint\t{bench_fingerprint(i)}\tbench\t{stamp}\n")
        lifetime, rotation = choice(lifetimes), choice(rotations)
        scope = choice(SCOPES)
        consumers = f"{purpose} job, reporting job" if i % 17 == 0 else f"{purpose} job"
        pair = flags.get((scope, consumers))
        if pair is None:
            facts = derived_facts(
                cast(AccessPath, SimpleNamespace(privilege_scope=scope, consumers=consumers,
                     credential_lifetime="ephemeral", rotation_days=None,
                     last_rotated_at=None, created_at=now)),
                policy,
            )  # fmt: skip
            pair = flags[(scope, consumers)] = (
                _text(facts["broad_scope"]),
                _text(facts["several_consumers"]),
            )
        rotation_due = policy.rotation_due_at(
            credential_lifetime=lifetime, rotation_days=rotation, last_rotated_at=None,
            created_at=created,
        )  # fmt: skip
        last_used = (now - day * uniform(0, 200)).isoformat() if i % 3 == 0 else null
        created_text = created.isoformat()
        lines.append(
            "\t".join((
                pk, f"{purpose}-{system}-{i:07d}", kinds[i % 9], system, external_id,
                envs[i % 4], str(owner) if owner else null, vias[i % 6], f"gha-run-{i}",
                consumers, f"https://jira.example.com/browse/OPS-{i}" if owner else "",
                f"The {purpose} job reads {system} data for its nightly run ({i}).",
                scope, tier, lifetime, str(rotation) if rotation else null, last_used,
                rotation_due.isoformat() if rotation_due else null, *pair,
                expires.isoformat() if expires else null, str(interval),
                attested.isoformat() if attested else null,
                next_review.isoformat() if next_review else null, state,
                state_changed.isoformat(), created_text, created_text,
                "t" if i % 97 == 0 else "f",
                f"lead of {team_slug[owner]}" if owner and tier in ("high", "critical") else "",
            ))
            + "\n"
        )  # fmt: skip
    return "".join(lines), "".join(tags), "".join(identifiers), "".join(attestations)


def _chunks(plan: _Plan) -> Iterator[tuple[str, str, str, str]]:
    """The estate's chunks in order, generated by one worker process per core where the
    platform forks (the generator is pure Python, the machine's cores otherwise idle
    while PostgreSQL ingests), else in this process."""
    count = -(-plan.n // CHUNK_ROWS)
    processes = min(os.cpu_count() or 1, count)
    if processes < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for index in range(count):
            yield _chunk(plan, index)
        return
    # The children inherit this process's memory, not its database connections' use:
    # they only compute text.
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        yield from pool.imap(partial(_chunk, plan), range(count))


def load_estate(
    connect: Callable[..., psycopg.Connection],
    n: int,
    people: People,
    now: dt.datetime,
    say: Callable[[str], None],
) -> LoadReport:
    """COPY n paths (with tags, identifiers, attestations) into the scratch database,
    rebuild the indexes and foreign keys, ANALYZE. The dashboard's tally is built by
    the caller (rebuild_tallies), measured on its own."""
    report = LoadReport()
    # Columns with one value for every path are not sent per row: the load gives them
    # a database default for its duration (dropped again right after), so COPY moves
    # and parses only what varies.
    defaults = _column_defaults(
        VARYING,
        {
            "steward_team_id": people.platform.pk,
            "data_classification": "internal",
            "revocation_plan": "Disable the credential in the source system.",
            "rollback_plan": "Re-issue the credential from the source's console.",
        },
    )
    spools = {
        "tags": _Spool("registry_accesspath_tags", "accesspath_id, tag_id"),
        "identifiers": _Spool(
            "registry_credentialidentifier", "path_id, kind, value, source, created_at"
        ),
        "attestations": _Spool(
            "registry_attestation",
            "path_id, team_id, attested_by_id, decision, still_needed, justification_accurate, "
            "least_privilege, no_human_use, note, next_review_at, created_at",
        ),
    }
    plan = _Plan(
        n=n,
        now=now.astimezone(dt.UTC).replace(tzinfo=None),
        owning=tuple(team.pk for team in people.owning),
        # A few big teams own much, most own a little (Zipf-like), as in real estates.
        cumulative=tuple(
            itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(people.owning)))
        ),
        team_slug={team.pk: team.slug for team in people.owning},
        member={team_pk: str(user.pk) for team_pk, user in people.members.items()},
        tag_ids=tuple(str(pk) for pk in Tag.objects.values_list("pk", flat=True)),
    )
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")  # the generator writes naive UTC timestamps
        started = time.perf_counter()
        drops, indexes, constraints = _ddl(cur)
        for statement in drops:
            cur.execute(statement)
        for column, value in defaults.items():
            cur.execute(
                sql.SQL("ALTER TABLE registry_accesspath ALTER COLUMN {} SET DEFAULT {}").format(
                    sql.Identifier(column), sql.Literal(value)
                )
            )
        conn.commit()
        report.seconds["drop indexes"] = time.perf_counter() - started

        started = time.perf_counter()
        copy_paths = sql.SQL("COPY registry_accesspath ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, VARYING))
        )
        with cur.copy(copy_paths) as copy:
            for paths, tags, identifiers, attestations in _chunks(plan):
                copy.write(paths)
                spools["tags"].write(tags)
                spools["identifiers"].write(identifiers)
                spools["attestations"].write(attestations)
        for spool in spools.values():
            spool.copy_into(cur)
        for column in defaults:
            cur.execute(
                sql.SQL("ALTER TABLE registry_accesspath ALTER COLUMN {} DROP DEFAULT").format(
                    sql.Identifier(column)
                )
            )
        conn.commit()
        report.paths = n
        report.tags = spools["tags"].rows
        report.identifiers = spools["identifiers"].rows
        report.attestations = spools["attestations"].rows
        report.seconds["generate + COPY"] = time.perf_counter() - started
        say(
            f"COPY: {n:,} paths, {report.tags:,} tags, {report.identifiers:,} identifiers, "
            f"{report.attestations:,} attestations in {report.seconds['generate + COPY']:.1f} s"
        )

    started = time.perf_counter()
    slowest = _rebuild(connect, indexes)
    with connect(autocommit=True) as conn:
        for statement in constraints:
            conn.execute(statement)
    report.seconds["indexes + foreign keys"] = time.perf_counter() - started
    say(
        f"{len(indexes)} indexes and {len(constraints)} foreign keys rebuilt in "
        f"{report.seconds['indexes + foreign keys']:.1f} s; slowest: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest)
    )
    report.slowest_indexes = slowest

    started = time.perf_counter()
    with connect(autocommit=True) as conn:
        conn.execute("ANALYZE")
    report.seconds["ANALYZE"] = time.perf_counter() - started
    return report


def _rebuild(
    connect: Callable[..., psycopg.Connection], indexes: list[str]
) -> list[tuple[str, float]]:
    """Build the indexes on two connections at once (one per core of the machines we
    measure on): each build is mostly one process sorting, so two overlap well.
    Returns the five slowest builds."""
    queues: list[list[str]] = [[], []]
    for position, statement in enumerate(indexes):
        queues[position % 2].append(statement)
    took: list[tuple[str, float]] = []

    def build(statements: list[str]) -> None:
        with connect(autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            for statement in statements:
                started = time.perf_counter()
                conn.execute(statement)
                name = statement.split(" ON ")[0].split()[-1]
                took.append((name, time.perf_counter() - started))

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(build, q) for q in queues]:
            future.result()
    return sorted(took, key=lambda item: -item[1])[:5]


def rebuild_tallies(now: dt.datetime) -> None:
    """The dashboard's tally over the loaded paths (registry.services.tallies), outside
    any transaction, as `manage.py tally --rebuild` runs it: the rebuild ends with a
    VACUUM of the facts table, which cannot run inside one (and without it every read
    visits the index entries of a million dead row versions)."""
    from registry.services import tallies

    with request_context():
        tallies.rebuild_tallies(now=now)
