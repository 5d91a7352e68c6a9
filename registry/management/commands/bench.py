"""Measure the REST API's inventory reads on a realistic estate, next to raw PostgreSQL.

Creates a scratch database on the DATABASE_URL server (never touches the configured
one), migrates it, loads N access paths with COPY, ANALYZEs, then times API requests
through the Django test client as a security reviewer's bearer token, and the
equivalent hand-written SQL (psycopg + json.dumps, as in BASELINES.md) in the same run.
The scratch database is dropped at the end, also on failure. Timings are printed,
never asserted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, reset_queries
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from psycopg import sql
from rest_framework.pagination import Cursor

from api.pagination import PathCursorPagination
from registry.management.commands._bench_triage import (
    bench_fingerprint,
    bench_key_id,
    measure_triage,
    median,
    p95,
)
from registry.models import AccessPath, Membership, Tag, Team
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.rules.posture import derived_facts
from registry.runtime.request_id import request_context
from registry.selectors import path_queryset
from registry.services.tokens import token_create

OWNING_TEAMS = 200
# The last two owning teams have nobody in them: their paths are lapsed at once (NHI1).
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
PATH_COLUMNS = [
    "id", "name", "kind", "system", "external_id", "environment", "owner_team_id",
    "steward_team_id", "created_via", "created_by_ref", "consumers", "ticket_url",
    "artifact_ref", "justification", "privilege_scope", "risk_tier", "data_classification",
    "credential_lifetime", "rotation_days", "last_rotated_at", "last_used_at",
    "rotation_due_at", "broad_scope", "several_consumers", "requires_human_signoff",
    "revocation_plan", "expires_at",
    "expiry_waiver_id", "review_interval_days", "last_attested_at", "next_review_at", "state",
    "state_changed_at", "escalation_stage", "version", "created_at", "updated_at",
    "interactive_login", "import_source", "suggestion_reason",
    "approved_by", "approval_ticket_url", "rollback_plan", "source_disabled_by",
]  # fmt: skip

# The raw yardstick: the same page the API returns (same filter, same order, the same
# fields with team slugs, tags and the derived status), written by hand.
RAW_SELECT = """
SELECT p.id, p.name, p.kind, p.system, p.external_id, p.environment,
       o.slug AS owner_team, s.slug AS steward_team, p.created_via, p.created_by_ref,
       p.consumers, p.ticket_url, p.artifact_ref, p.justification, p.privilege_scope,
       p.risk_tier, p.data_classification, p.credential_lifetime, p.rotation_days,
       p.last_rotated_at, p.last_used_at, p.requires_human_signoff, p.revocation_plan,
       p.expires_at, p.review_interval_days, p.last_attested_at, p.next_review_at, p.state,
       CASE
         WHEN p.state = 'revoked' THEN 'revoked'
         WHEN p.state = 'expired' OR p.expires_at <= %(now)s THEN 'expired'
         WHEN p.state IN ('unowned', 'claim_pending') THEN p.state
         WHEN NOT o.is_active OR NOT EXISTS (
           SELECT 1 FROM registry_membership m
           WHERE m.team_id = p.owner_team_id AND m.ended_at IS NULL
         ) OR p.next_review_at <= %(lapse)s THEN 'lapsed'
         WHEN p.next_review_at <= %(now)s THEN 'overdue'
         WHEN p.next_review_at <= %(window)s THEN 'review_due'
         ELSE 'active'
       END AS status,
       p.escalation_stage, p.version,
       ARRAY(SELECT t.slug FROM registry_accesspath_tags pt
             JOIN registry_tag t ON t.id = pt.tag_id
             WHERE pt.accesspath_id = p.id ORDER BY t.slug) AS tags,
       p.created_at, p.updated_at
FROM registry_accesspath p
LEFT JOIN registry_team o ON o.id = p.owner_team_id
LEFT JOIN registry_team s ON s.id = p.steward_team_id
WHERE {where}
ORDER BY p.created_at, p.id
LIMIT 50
"""
LIVE = (
    "p.state IN ('unowned', 'claim_pending', 'active') "
    "AND (p.expires_at IS NULL OR p.expires_at > %(now)s)"
)
ACCOUNTABLE = (
    "o.is_active AND EXISTS (SELECT 1 FROM registry_membership m "
    "WHERE m.team_id = p.owner_team_id AND m.ended_at IS NULL)"
)


@dataclass
class Scenario:
    label: str
    query: dict[str, str]
    where: str


@dataclass
class Result:
    label: str
    rows: int
    queries: int
    api_ms: list[float]
    raw_ms: list[float]
    same_rows: bool


class Command(BaseCommand):
    help = (
        "Benchmark the API's inventory list on N generated paths in a scratch PostgreSQL "
        "database (created and dropped by the command), next to raw SQL. PostgreSQL only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--paths", type=int, default=100_000, help="paths to load")
        parser.add_argument("--samples", type=int, default=200, help="timed requests each")
        parser.add_argument(
            "--triage-only",
            action="store_true",
            help="load the estate and time only the triage lookups (for large --paths)",
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench measures PostgreSQL only; this DATABASE_URL selects "
                f"{connection.vendor}. Set DATABASE_URL=postgres://… (bench creates and "
                "drops its own scratch database on that server)."
            )
        if options["paths"] < 100 or options["samples"] < 1:
            raise CommandError("--paths must be at least 100 and --samples at least 1.")
        scratch = f"nhi_bench_{os.getpid()}"
        with self._scratch_database(scratch):
            self._run(scratch, options["paths"], options["samples"], options["triage_only"])

    # -- the scratch database ---------------------------------------------------------

    def _connect_kwargs(self, dbname: str) -> dict[str, Any]:
        db = connections["default"].settings_dict
        kwargs = {"host": db["HOST"] or None, "port": db["PORT"] or None, "dbname": dbname}
        kwargs.update(user=db["USER"] or None, password=db["PASSWORD"] or None)
        return {k: v for k, v in kwargs.items() if v is not None}

    def _admin_connection(self) -> psycopg.Connection:
        # The maintenance database, not the configured one: that may not even exist.
        try:
            return psycopg.connect(**self._connect_kwargs("postgres"), autocommit=True)
        except psycopg.OperationalError:
            name = connections["default"].settings_dict["NAME"]
            return psycopg.connect(**self._connect_kwargs(name), autocommit=True)

    @contextmanager
    def _scratch_database(self, name: str) -> Iterator[None]:
        db = connections["default"].settings_dict
        original = db["NAME"]
        connections.close_all()
        with self._admin_connection() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.stdout.write(f"scratch database {name} created on {db['HOST'] or 'localhost'}")
        db["NAME"] = name
        try:
            yield
        finally:
            connections.close_all()
            db["NAME"] = original
            with self._admin_connection() as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            self.stdout.write(f"scratch database {name} dropped")

    # -- the run ----------------------------------------------------------------------

    def _run(self, scratch: str, n_paths: int, samples: int, triage_only: bool = False) -> None:
        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"migrated in {time.perf_counter() - started:.1f} s")

        now = timezone.now()
        teams, reviewer = self._people(now)
        started = time.perf_counter()
        loaded = self._load_paths(scratch, n_paths, teams, now)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"loaded {loaded:,} paths with COPY in {elapsed:.1f} s ({loaded / elapsed:,.0f} "
            "rows/s, including generating the rows, the indexes and the foreign-key checks)"
        )
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("ANALYZE")
            self.stdout.write(f"ANALYZE in {time.perf_counter() - started:.1f} s")
            cursor.execute("SHOW shared_buffers")
            shared_buffers = cursor.fetchone()[0]

        if triage_only:
            measure_triage(self.stdout, reviewer, n_paths, samples)
            return
        with request_context():
            _, secret = token_create(
                actor=Actor.system("bench"), name="bench", scopes=["read"], user=reviewer
            )
        scenarios, raw_params, notes = self._scenarios(now)
        statuses = (
            path_queryset(actor=Actor.system("bench"))
            .values("status").annotate(n=Count("pk")).order_by("-n")
        )  # fmt: skip
        mix = ", ".join(f"{row['status']} {row['n']:,}" for row in statuses)
        self.stdout.write(
            f"estate: {AccessPath.objects.count():,} paths ({mix}), {OWNING_TEAMS} owning "
            f"teams; shared_buffers={shared_buffers}; {notes}"
        )
        results = self._measure(scratch, secret, scenarios, raw_params, samples)
        self._print_table(results, samples)
        self._measure_pages(reviewer, max(samples // 4, 5))
        measure_triage(self.stdout, reviewer, n_paths, samples)

    def _people(self, now: dt.datetime) -> tuple[list[Team], User]:
        """Teams, one member each (the empty ones excepted), and a security reviewer."""

        def make(slug: str, kind: str) -> Team:
            return Team(
                slug=slug, name=slug.replace("-", " ").title(), kind=kind,
                email=f"{slug}@example.com", created_at=now, updated_at=now,
            )  # fmt: skip

        owning = [make(f"team-{i:03d}", Team.Kind.PRODUCT) for i in range(OWNING_TEAMS)]
        Team.objects.bulk_create(
            [*owning, make("security", Team.Kind.SECURITY), make("platform", Team.Kind.PLATFORM)]
        )
        teams = {t.slug: t for t in Team.objects.all()}
        User = get_user_model()
        users = [User(username=f"member-{i:03d}") for i in range(OWNING_TEAMS - EMPTY_TEAMS)]
        users.append(User(username="bench-reviewer"))
        for user in users:
            user.set_unusable_password()
        User.objects.bulk_create(users)
        by_name = {u.username: u for u in User.objects.all()}
        memberships = [
            Membership(user=by_name[f"member-{i:03d}"], team=teams[f"team-{i:03d}"],
                       role=Membership.Role.LEAD, started_at=now)
            for i in range(OWNING_TEAMS - EMPTY_TEAMS)
        ]  # fmt: skip
        reviewer = by_name["bench-reviewer"]
        memberships.append(Membership(user=reviewer, team=teams["security"], started_at=now))
        Membership.objects.bulk_create(memberships)
        Tag.objects.bulk_create([Tag(slug=slug) for slug in TAGS])
        owning_teams = [teams[f"team-{i:03d}"] for i in range(OWNING_TEAMS)]
        return [*owning_teams, teams["platform"]], reviewer

    def _load_paths(self, scratch: str, n: int, teams: list[Team], now: dt.datetime) -> int:
        """COPY the paths and their tags: a realistic mix of every status."""
        rng = random.Random(20261122)  # noqa: S311 - a reproducible estate, not a secret
        policy = current_policy()
        owning, platform = teams[:-1], teams[-1]
        # A few big teams own much, most own a little (Zipf-like), as in real estates.
        zipf = (1 / (rank + 1) ** 0.8 for rank in range(len(owning)))
        cumulative = list(itertools.accumulate(zipf))
        tag_ids = list(Tag.objects.values_list("pk", flat=True))
        kinds, envs = AccessPath.Kind.values, AccessPath.Environment.values
        tiers, vias = AccessPath.RiskTier.values, AccessPath.CreatedVia.values
        lifetimes = AccessPath.CredentialLifetime.values
        day = dt.timedelta(days=1)
        tag_rows: list[tuple[uuid.UUID, int]] = []
        identifier_rows: list[tuple] = []

        def rows() -> Iterator[tuple]:
            for i in range(n):
                pk = uuid.UUID(int=rng.getrandbits(128), version=4)
                tier = tiers[i % len(tiers)]
                interval = policy.interval_for(tier)
                created = now - day * rng.uniform(1, 730)
                purpose, system = rng.choice(PURPOSES), SYSTEMS[i % len(SYSTEMS)]
                owner = None
                if rng.random() >= UNOWNED_SHARE:
                    owner = rng.choices(owning, cum_weights=cumulative)[0]
                next_review: dt.datetime | None = None
                attested: dt.datetime | None = None
                expires: dt.datetime | None = now + day * rng.uniform(20, 700)
                if owner is None:
                    state = "claim_pending" if rng.random() < 0.2 else "unowned"
                    expires = None if rng.random() < 0.5 else expires
                else:
                    state, bucket = "active", rng.random()
                    if bucket < 0.06:  # overdue: past review, not yet lapsed
                        next_review = now - day * rng.uniform(0.01, 13.9)
                    elif bucket < 0.10:  # lapsed: 14+ days past review
                        next_review = now - day * rng.uniform(14.1, 200)
                    elif bucket < 0.15:  # review due within the reminder window
                        next_review = now + day * rng.uniform(0.01, 13.9)
                    else:
                        next_review = now + day * rng.uniform(14.1, max(interval, 15))
                    if 0.15 <= bucket < 0.18:  # expired and swept
                        state, expires = "expired", now - day * rng.uniform(1, 300)
                    elif 0.18 <= bucket < 0.19:  # past expiry, before the sweep
                        expires = now - day * rng.uniform(0.01, 5)
                    elif 0.19 <= bucket < 0.22:
                        state = "revoked"
                    if next_review - day * interval > created:
                        attested = next_review - day * interval
                for tag in rng.sample(tag_ids, rng.choice([0, 0, 1, 1, 2])):
                    tag_rows.append((pk, tag))
                # Every path is findable by a key id and a fingerprint (triage).
                identifier_rows.append((pk, "key_id", bench_key_id(i), "bench", now))
                identifier_rows.append((pk, "fingerprint", bench_fingerprint(i), "bench", now))
                lifetime, rotation = rng.choice(lifetimes), rng.choice([None, 30, 90, 365])
                # Posture variety: some admin scopes, shared identities and unused ones.
                scope = rng.choice(SCOPES)
                consumers = f"{purpose} job" + (", reporting job" if i % 17 == 0 else "")
                facts = derived_facts(
                    AccessPath(
                        credential_lifetime=lifetime,
                        rotation_days=rotation,
                        created_at=created,
                        privilege_scope=scope,
                        consumers=consumers,
                    ),
                    policy,
                )
                last_used = now - day * rng.uniform(0, 200) if i % 3 == 0 else None
                yield (
                    pk, f"{purpose}-{system}-{i:06d}", kinds[i % len(kinds)], system,
                    f"bench-{i:07d}", envs[i % len(envs)], owner.pk if owner else None,
                    platform.pk, vias[i % len(vias)], f"gha-run-{i}", consumers,
                    f"https://jira.example.com/browse/OPS-{i}" if owner else "", "",
                    f"The {purpose} job reads {system} data for its nightly run ({i}).",
                    scope, tier, "internal", lifetime, rotation, None, last_used,
                    facts["rotation_due_at"], facts["broad_scope"], facts["several_consumers"],
                    False,
                    "Disable the credential in the source system.", expires, None, interval,
                    attested, next_review, state, created, 0, 1, created, created,
                    False, "", "",
                    f"lead of {owner.slug}" if owner and tier in ("high", "critical") else "",
                    "", "Re-issue the credential from the source's console.", "",
                )  # fmt: skip

        with psycopg.connect(**self._connect_kwargs(scratch)) as conn, conn.cursor() as cur:
            copy_paths = sql.SQL("COPY registry_accesspath ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, PATH_COLUMNS))
            )
            with cur.copy(copy_paths) as copy:
                for row in rows():
                    copy.write_row(row)
            copy_tags = "COPY registry_accesspath_tags (accesspath_id, tag_id) FROM STDIN"
            with cur.copy(copy_tags) as copy:
                for row in tag_rows:
                    copy.write_row(row)
            copy_identifiers = (
                "COPY registry_credentialidentifier (path_id, kind, value, source, created_at) "
                "FROM STDIN"
            )
            with cur.copy(copy_identifiers) as copy:
                for row in identifier_rows:
                    copy.write_row(row)
        return n

    def _scenarios(self, now: dt.datetime) -> tuple[list[Scenario], dict[str, Any], str]:
        policy = current_policy()
        lapse = now - policy.lapse_after
        # The team with the most overdue paths: its page is a full 50 rows if any is.
        overdue = (
            AccessPath.objects.filter(
                state="active", next_review_at__lte=now, next_review_at__gt=lapse,
                owner_team__slug__startswith="team-",
            )
            .values("owner_team__slug").annotate(n=Count("id"))
            .order_by("-n").first()
        )  # fmt: skip
        if overdue is None:
            raise CommandError("The generated estate has no overdue path to page through.")
        team, team_overdue = overdue["owner_team__slug"], overdue["n"]
        middle = AccessPath.objects.count() // 2
        position = AccessPath.objects.order_by("created_at", "id").values_list(
            "created_at", flat=True
        )[middle]
        pager = PathCursorPagination()
        pager.base_url = "http://testserver/api/v1/access-paths/?page_size=50"
        # DRF's cursor positions are strings (str() of the ordering value); the stubs say int.
        at = Cursor(offset=0, reverse=False, position=str(position))  # type: ignore[arg-type]
        deep = pager.encode_cursor(at)
        cursor = parse_qs(urlsplit(deep).query)["cursor"][0]
        scenarios = [
            Scenario(
                f"status=overdue&owner_team={team}",
                {"status": "overdue", "owner_team": team, "page_size": "50"},
                f"{LIVE} AND p.state = 'active' AND o.slug = %(team)s "
                f"AND p.next_review_at <= %(now)s AND p.next_review_at > %(lapse)s "
                f"AND {ACCOUNTABLE}",
            ),
            Scenario("no filter, first page", {"page_size": "50"}, "TRUE"),
            Scenario(
                "status=lapsed",
                {"status": "lapsed", "page_size": "50"},
                f"{LIVE} AND p.state = 'active' AND (p.next_review_at <= %(lapse)s "
                f"OR NOT ({ACCOUNTABLE}))",
            ),
            Scenario(
                f"q={SEARCH_TERM}",
                {"q": SEARCH_TERM, "page_size": "50"},
                "(UPPER(p.name) LIKE UPPER(%(like)s) OR UPPER(p.external_id) LIKE UPPER(%(like)s)"
                " OR UPPER(p.justification) LIKE UPPER(%(like)s))",
            ),
            Scenario(
                "cursor= half-way through the table",
                {"cursor": cursor, "page_size": "50"},
                "p.created_at > %(position)s",
            ),
        ]
        raw_params = {"team": team, "like": f"%{SEARCH_TERM}%", "position": position}
        return scenarios, raw_params, f"team {team} has {team_overdue} overdue paths"

    def _measure(
        self,
        scratch: str,
        secret: str,
        scenarios: list[Scenario],
        raw_params: dict[str, Any],
        samples: int,
    ) -> list[Result]:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        results = []
        # Production settings while measuring: no query log, and the test client's host.
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        with (
            override_settings(DEBUG=False, ALLOWED_HOSTS=hosts),
            # Planned at every execution, as Django's client-side bound queries are: a
            # prepared statement's generic plan would be a different query plan.
            psycopg.connect(**self._connect_kwargs(scratch), prepare_threshold=None) as raw,
        ):
            for scenario in scenarios:
                url = f"/api/v1/access-paths/?{urlencode(scenario.query)}"
                api_ids, api_ms, queries = self._time_api(client, url, samples)
                raw_ids, raw_ms = self._time_raw(raw, scenario, raw_params, samples)
                same = api_ids == raw_ids
                results.append(Result(scenario.label, len(api_ids), queries, api_ms, raw_ms, same))
        return results

    def _time_api(
        self, client: Client, url: str, samples: int
    ) -> tuple[list[str], list[float], int]:
        def get() -> Any:
            # One throttle budget per token; the bench is not what it should slow down.
            cache.clear()
            response = client.get(url)
            if response.status_code != 200:
                raise CommandError(
                    f"GET {url} answered {response.status_code}: {response.content[:300]!r}"
                )
            return response

        for _ in range(5):
            get()
        # The setup filled the (bounded) query log; an empty one counts from zero.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            ids = [row["id"] for row in get().json()["results"]]
        # Counted now: the next request's request_started signal empties the log.
        queries = len(captured.captured_queries)
        timings = []
        for _ in range(samples):
            cache.clear()
            started = time.perf_counter()
            response = client.get(url)
            response.content  # noqa: B018 - the body is part of the response time
            timings.append((time.perf_counter() - started) * 1000)
        return ids, timings, queries

    def _time_raw(
        self, raw: psycopg.Connection, scenario: Scenario, fixed: dict[str, Any], samples: int
    ) -> tuple[list[str], list[float]]:
        policy = current_policy()
        query = sql.SQL(RAW_SELECT).format(where=sql.SQL(scenario.where))

        def run() -> tuple[str, list[dict]]:
            now = timezone.now()
            params = {
                **fixed,
                "now": now,
                "lapse": now - policy.lapse_after,
                "window": now + policy.review_window,
            }
            with raw.cursor() as cur:
                cur.execute(query, params)
                if cur.description is None:  # a SELECT always describes its columns
                    raise CommandError(f"{scenario.label}: the query returned no result set.")
                names = [c.name for c in cur.description]
                rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            return json.dumps(rows, default=str), rows

        for _ in range(5):
            run()
        ids = [str(row["id"]) for row in run()[1]]
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            run()
            timings.append((time.perf_counter() - started) * 1000)
        return ids, timings

    def _measure_pages(self, reviewer: User, samples: int) -> None:
        """The browser pages a security reviewer opens first, as server time: the whole
        Django request (session, selectors, template) through the test client."""
        client = Client()
        client.force_login(reviewer)
        pages = [
            ("dashboard /", "/"),
            ("inventory, first page", "/paths/"),
            ("inventory ?status=overdue&sort=review", "/paths/?status=overdue&sort=review"),
            ("inventory ?posture=any", "/paths/?posture=any"),
        ]
        self.stdout.write("")
        self.stdout.write(f"HTML pages as a security reviewer (session), {samples} samples each")
        header = f"{'page':<40} {'status':>6} {'queries':>7} {'median ms':>10} {'p95 ms':>8}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        with override_settings(DEBUG=False, ALLOWED_HOSTS=hosts):
            for label, url in pages:
                for _ in range(2):
                    client.get(url)
                reset_queries()
                with CaptureQueriesContext(connection) as captured:
                    status = client.get(url).status_code
                queries = len(captured.captured_queries)
                timings = []
                for _ in range(samples):
                    started = time.perf_counter()
                    response = client.get(url)
                    response.content  # noqa: B018 - the body is part of the response time
                    timings.append((time.perf_counter() - started) * 1000)
                self.stdout.write(
                    f"{label:<40} {status:>6} {queries:>7} {median(timings):>10.1f} "
                    f"{p95(timings):>8.1f}"
                )

    def _print_table(self, results: list[Result], samples: int) -> None:
        header = (
            f"{'GET /api/v1/access-paths/?page_size=50&…':<40} {'rows':>4} {'queries':>7} "
            f"{'api median ms':>13} {'api p95 ms':>10} {'raw median ms':>13} {'raw p95 ms':>10} "
            f"{'api/raw':>7}  same rows"
        )
        self.stdout.write("")
        self.stdout.write(
            f"{samples} samples each; api = Django test client, bearer token of a security "
            "reviewer; raw = the same page by hand-written SQL, psycopg + json.dumps; "
            "DEBUG off while measuring"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for r in results:
            ratio = median(r.api_ms) / median(r.raw_ms)
            self.stdout.write(
                f"{r.label:<40} {r.rows:>4} {r.queries:>7} {median(r.api_ms):>13.1f} "
                f"{p95(r.api_ms):>10.1f} {median(r.raw_ms):>13.2f} {p95(r.raw_ms):>10.2f} "
                f"{ratio:>6.1f}x  {'yes' if r.same_rows else 'NO'}"
            )
