"""One benchmark that shows it all (issue 15): every page, API list, job and import on
a realistic estate of N access paths, each next to its yardstick, in one run.

Creates a scratch database on the DATABASE_URL server (never touches the configured
one), migrates it, loads the estate with COPY (registry/management/commands/_bench_load.py),
then measures, as a security reviewer (session for pages, bearer token for the API):

- pages: the dashboard, the inventory (first page, filtered, a page deep in the table),
  a path's page, the Django admin changelist;
- the API's lists next to the same page by hand-written SQL (psycopg + json.dumps);
- triage lookups next to the read alone;
- the CSV export of the lapsed paths next to PostgreSQL's COPY of the same rows;
- the sweep (first run, then again with nothing new) next to set-based SQL doing the
  same writes (_bench_sweep.py);
- the import of new and of unchanged rows next to COPY of the same file.

Each row reports the first call on its own, then median and p95 of the repeated calls,
the statements Django sent, and the peak memory above where the process stood
(_bench_measure.py). One table is printed and a JSON file written. The scratch
database is dropped at the end, also on failure (unless --keep). Timings are printed,
never asserted.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from io import StringIO
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from psycopg import sql
from rest_framework.pagination import Cursor

from api.pagination import PathCursorPagination
from registry.management.commands._bench_env import (
    no_worker_kicks,
    run_facts,
)
from registry.management.commands._bench_leases import measure_leases
from registry.management.commands._bench_load import (
    PURPOSES,
    SCOPES,
    SEARCH_TERM,
    SYSTEMS,
    LoadReport,
    People,
    find_people,
    load_estate,
    make_people,
    rebuild_tallies,
)
from registry.management.commands._bench_measure import (
    Row,
    Timing,
    fmt_ms,
    measure,
    table_lines,
)
from registry.management.commands._bench_raw import (
    ACCOUNTABLE,
    LAPSED,
    LIVE,
    RAW_SELECT,
    copy_file,
    raw_copy,
    raw_page,
)
from registry.management.commands._bench_sweep import set_based_sweep
from registry.management.commands._bench_triage import measure_triage
from registry.models import AccessPath
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.runtime.request_id import request_context
from registry.selectors.pagination import DEFAULT_SORT, _encode
from registry.services.sweep import sweep
from registry.services.tokens import token_create

# bench_import reads these from here.
__all__ = ["PURPOSES", "SCOPES", "SYSTEMS", "Command"]

SECTIONS = ("pages", "api", "triage", "export", "sweep", "import", "leases")


@dataclass
class Scenario:
    label: str
    query: dict[str, str]
    where: str


@dataclass
class Context:
    """What the measuring sections share."""

    scratch: str
    n_paths: int
    samples: int
    people: People
    hosts: list[str]


class Command(BaseCommand):
    help = (
        "Benchmark every page, API list, the sweep, the import, triage and the export on N "
        "generated paths in a scratch PostgreSQL database (created and dropped by the "
        "command), each next to its yardstick; print one table and write a JSON file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--paths", type=int, default=100_000, help="paths to load")
        parser.add_argument(
            "--samples", type=int, default=20, help="timed calls per row, after the first"
        )
        parser.add_argument(
            "--json", help="where to write the results (default var/bench-<paths>.json)"
        )
        parser.add_argument(
            "--import-rows",
            type=int,
            help="CSV rows for the import rows (default: 100,000, or --paths if fewer)",
        )
        parser.add_argument(
            "--sections",
            default=",".join(SECTIONS),
            help=f"comma-separated subset of {', '.join(SECTIONS)} (default: all)",
        )
        parser.add_argument(
            "--keep", action="store_true", help="keep the scratch database (to --reuse it)"
        )
        parser.add_argument(
            "--reuse",
            metavar="DATABASE",
            help="measure an estate a previous --keep run loaded, without loading; the sweep "
            "and import sections change it",
        )

    def handle(self, *args, **options) -> None:
        sections = [s.strip() for s in options["sections"].split(",") if s.strip()]
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            raise CommandError(f"Unknown sections {unknown}; choose from {', '.join(SECTIONS)}.")
        if options["paths"] < 100 or options["samples"] < 1:
            raise CommandError("--paths must be at least 100 and --samples at least 1.")
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench measures PostgreSQL only; this DATABASE_URL selects "
                f"{connection.vendor}. Set DATABASE_URL=postgres://… (bench creates and "
                "drops its own scratch database on that server)."
            )
        self.sections = sections
        self.options = options
        if options["reuse"]:
            with self._database(options["reuse"]):
                self._run(options["reuse"], reuse=True)
            return
        scratch = f"nhi_bench_{os.getpid()}"
        with self._scratch_database(scratch, keep=options["keep"]):
            self._run(scratch, reuse=False)

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

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
    def _database(self, name: str) -> Iterator[None]:
        """Point the default connection at `name` for the block."""
        db = connections["default"].settings_dict
        original = db["NAME"]
        connections.close_all()
        db["NAME"] = name
        try:
            yield
        finally:
            connections.close_all()
            db["NAME"] = original

    @contextmanager
    def _scratch_database(self, name: str, *, keep: bool = False) -> Iterator[None]:
        db = connections["default"].settings_dict
        connections.close_all()
        with self._admin_connection() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.stdout.write(f"scratch database {name} created on {db['HOST'] or 'localhost'}")
        try:
            with self._database(name):
                yield
        finally:
            if keep:
                self.stdout.write(f"scratch database {name} kept (--reuse {name}; drop it after)")
            else:
                with self._admin_connection() as admin:
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
                self.stdout.write(f"scratch database {name} dropped")

    def _connect(self, scratch: str) -> Callable[..., psycopg.Connection]:
        def connect(**extra: Any) -> psycopg.Connection:
            return psycopg.connect(**self._connect_kwargs(scratch), **extra)

        return connect

    # -- the run ----------------------------------------------------------------------

    def _run(self, scratch: str, *, reuse: bool) -> None:
        options = self.options
        started = time.perf_counter()
        rows: list[Row] = []
        load: LoadReport | None = None
        migrate_s = 0.0
        if reuse:
            people = find_people()
            # The generated paths (an import section of an earlier run added others,
            # which triage's generated identifiers do not name).
            n_paths = AccessPath.objects.filter(external_id__startswith="bench-").count()
        else:
            call_command("migrate", interactive=False, verbosity=0)
            migrate_s = time.perf_counter() - started
            self.say(f"migrated in {migrate_s:.1f} s")
            now = timezone.now()
            people = make_people(now)
            n_paths = options["paths"]
            timing = measure(
                lambda: load_estate(self._connect(scratch), n_paths, people, now, self.say),
                0,
                count_queries=False,
            )
            load = timing.result
            assert isinstance(load, LoadReport)  # noqa: S101 - load_estate's return type
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in load.seconds.items())
            rows.append(Row("load", f"load {n_paths:,} paths", timing, note=parts))
            self.say(f"loaded in {load.total_s:.1f} s ({parts})")
            tallied = measure(lambda: rebuild_tallies(now), 0)
            rows.append(Row("load", "rebuild_tallies (the dashboard's tally)", tallied))
            self.say(f"tally rebuilt in {tallied.first_ms / 1000:.1f} s")
        ctx = Context(
            scratch=scratch,
            n_paths=n_paths,
            samples=options["samples"],
            people=people,
            hosts=[*settings.ALLOWED_HOSTS, "testserver"],
        )
        meta = run_facts(
            n_paths=ctx.n_paths, samples=ctx.samples, sections=self.sections,
            migrate_s=migrate_s, load=load,
        )  # fmt: skip
        self.say(f"estate: {meta['estate']}")
        self.say(f"machine: {meta['machine']}")
        self.say(f"postgresql: {meta['postgresql']}")
        measured_at = time.perf_counter()
        with ExitStack() as stack:
            # Production settings while measuring: no query log, the test client's host.
            stack.enter_context(override_settings(DEBUG=False, ALLOWED_HOSTS=ctx.hosts))
            stack.enter_context(no_worker_kicks())
            for section in SECTIONS:
                if section in self.sections:
                    section_started = time.perf_counter()
                    self.say(f"measuring {section} …")
                    rows += getattr(self, f"_section_{section}")(ctx)
                    self.say(f"  {section} took {time.perf_counter() - section_started:.1f} s")
                    # Written after every section: a long run stopped half-way (or one
                    # that fails later) keeps what it measured.
                    self._write_json(rows, {**meta, "complete": False}, ctx, quiet=True)
        meta["measure_seconds"] = round(time.perf_counter() - measured_at, 1)
        meta["total_seconds"] = round(time.perf_counter() - started, 1)
        self._print_table(rows, ctx)
        self._write_json(rows, {**meta, "complete": True}, ctx)

    # -- pages ------------------------------------------------------------------------

    def _get(self, client: Client, url: str, *, bearer: str = "") -> Callable[[], Any]:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

        def get() -> Any:
            if bearer:
                cache.clear()  # one throttle budget per token: the bench is not a flood
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise CommandError(
                    f"GET {url} answered {response.status_code}: {response.content[:300]!r}"
                )
            response.content  # noqa: B018 - the body is part of the response time
            return response

        return get

    def _api_token(self, reviewer: User) -> str:
        with request_context():
            _, secret = token_create(
                actor=Actor.system("bench"), name="bench", scopes=["read"], user=reviewer
            )
        return secret

    def _section_pages(self, ctx: Context) -> list[Row]:
        """The browser pages, as server time: the whole Django request (session,
        selectors, template) through the test client."""
        reviewer, samples = Client(), ctx.samples
        reviewer.force_login(ctx.people.reviewer)
        admin = Client()
        admin.force_login(ctx.people.admin)
        api = Client()
        secret = self._api_token(ctx.people.reviewer)
        middle = ctx.n_paths // 2
        created_at, pk = AccessPath.objects.order_by("created_at", "id").values_list(
            "created_at", "id"
        )[middle]
        deep = urlencode({"cursor": _encode(DEFAULT_SORT, created_at, pk)})
        # A path whose external id is shared across systems: the posture rules that look
        # at other rows (NHI8/NHI9) have something to find.
        shared = (
            AccessPath.objects.filter(name__endswith="-0000041")
            .values_list("pk", flat=True)
            .first()
            or pk
        )

        def page(client: Client, url: str) -> Timing:
            timing = measure(self._get(client, url), samples)
            self.say(f"  {url[:60]}: median {fmt_ms(timing.median_ms)}")
            return timing

        changelist = page(admin, "/admin/registry/accesspath/")
        first = page(reviewer, "/paths/")
        api_retrieve = measure(
            self._get(api, f"/api/v1/access-paths/{shared}/", bearer=secret), samples
        )
        return [
            Row("pages", "dashboard /", page(reviewer, "/")),
            Row("pages", "inventory, first page", first, "admin changelist", changelist),
            Row(
                "pages",
                "inventory ?status=overdue&sort=review",
                page(reviewer, "/paths/?status=overdue&sort=review"),
            ),
            Row("pages", "inventory ?posture=any", page(reviewer, "/paths/?posture=any")),
            Row(
                "pages",
                "inventory, mid-table cursor",
                page(reviewer, f"/paths/?{deep}"),
                "inventory, first page",
                first,
            ),
            Row(
                "pages",
                "path page",
                page(reviewer, f"/paths/{shared}/"),
                "API retrieve, same path",
                api_retrieve,
            ),
            Row("pages", "admin changelist (AccessPath)", changelist),
        ]

    # -- API against raw SQL ----------------------------------------------------------

    def _scenarios(self) -> tuple[list[Scenario], dict[str, Any]]:
        policy = current_policy()
        now = timezone.now()
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
        team = overdue["owner_team__slug"]
        middle = AccessPath.objects.count() // 2
        position = AccessPath.objects.order_by("created_at", "id").values_list(
            "created_at", flat=True
        )[middle]
        pager = PathCursorPagination()
        pager.base_url = "http://testserver/api/v1/access-paths/?page_size=50"
        # DRF's cursor positions are strings (str() of the ordering value); the stubs say int.
        at = Cursor(offset=0, reverse=False, position=str(position))  # type: ignore[arg-type]
        cursor = parse_qs(urlsplit(pager.encode_cursor(at)).query)["cursor"][0]
        scenarios = [
            Scenario("no filter, first page", {"page_size": "50"}, "TRUE"),
            Scenario(
                f"status=overdue&owner_team={team}",
                {"status": "overdue", "owner_team": team, "page_size": "50"},
                f"{LIVE} AND p.state = 'active' AND o.slug = %(team)s "
                f"AND p.next_review_at <= %(now)s AND p.next_review_at > %(lapse)s "
                f"AND {ACCOUNTABLE}",
            ),
            Scenario("status=lapsed", {"status": "lapsed", "page_size": "50"}, LAPSED),
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
        return scenarios, {"team": team, "like": f"%{SEARCH_TERM}%", "position": position}

    def _section_api(self, ctx: Context) -> list[Row]:
        client = Client()
        secret = self._api_token(ctx.people.reviewer)
        scenarios, fixed = self._scenarios()
        rows = []
        # Planned at every execution, as Django's client-side bound queries are: a
        # prepared statement's generic plan would be a different query plan.
        with psycopg.connect(**self._connect_kwargs(ctx.scratch), prepare_threshold=None) as raw:
            for scenario in scenarios:
                url = f"/api/v1/access-paths/?{urlencode(scenario.query)}"
                api = measure(self._get(client, url, bearer=secret), ctx.samples)
                query = sql.SQL(RAW_SELECT + " LIMIT 50").format(where=sql.SQL(scenario.where))
                by_hand = measure(partial(raw_page, raw, query, fixed), ctx.samples)
                self.say(f"  {scenario.label}: median {fmt_ms(api.median_ms)}")
                api_ids = [row["id"] for row in api.result.json()["results"]]
                raw_ids = [str(row["id"]) for row in by_hand.result]
                rows.append(
                    Row(
                        "api", f"API {scenario.label}", api, "raw psycopg + json", by_hand,
                        note=f"{len(api_ids)} rows"
                        + ("" if api_ids == raw_ids else ", NOT the raw query's rows"),
                        extra={"same_rows": api_ids == raw_ids, "url": url},
                    )
                )  # fmt: skip
        return rows

    # -- triage -----------------------------------------------------------------------

    def _section_triage(self, ctx: Context) -> list[Row]:
        return measure_triage(ctx.people.reviewer, ctx.n_paths, ctx.samples)

    # -- export -----------------------------------------------------------------------

    def _section_export(self, ctx: Context) -> list[Row]:
        """The CSV export of the lapsed paths, streamed by the inventory's export URL
        (every row inline: the background path would time a worker, not the stream),
        next to COPY (the same rows) TO STDOUT."""
        client = Client()
        client.force_login(ctx.people.reviewer)
        samples = max(1, min(ctx.samples, 5))

        def export() -> int:
            response = client.get("/paths/export.csv?status=lapsed")
            if response.status_code != 200:
                raise CommandError(f"The export answered {response.status_code}.")
            lines = 0
            for piece in cast(
                Iterator[bytes], cast(StreamingHttpResponse, response).streaming_content
            ):
                lines += piece.count(b"\n")
            return lines - 1

        with override_settings(NHI_EXPORT_INLINE_MAX_ROWS=10**9):
            streamed = measure(export, samples)
        with psycopg.connect(**self._connect_kwargs(ctx.scratch)) as raw:
            copied = measure(lambda: raw_copy(raw, LAPSED), samples)
        exported = streamed.result
        rate = exported / (streamed.median_ms / 1000) if streamed.median_ms else 0
        raw_rate = copied.result / (copied.median_ms / 1000) if copied.median_ms else 0
        return [
            Row(
                "export", "CSV export ?status=lapsed", streamed, "COPY (same rows) TO STDOUT",
                copied, note=f"{exported:,} rows, {rate:,.0f} rows/s (COPY {raw_rate:,.0f})",
                extra={"rows": exported, "rows_per_s": rate, "copy_rows_per_s": raw_rate},
            )
        ]  # fmt: skip

    # -- sweep ------------------------------------------------------------------------

    def _section_sweep(self, ctx: Context) -> list[Row]:
        """The sweep as beat runs it (live clock), first with what the estate has due,
        then again with nothing new; each after the set-based SQL doing the same writes
        at that moment, in a transaction rolled back."""
        rows = []
        for label, anchor in (
            ("sweep, first run", "set-based SQL, same writes"),
            ("sweep again, nothing new", "set-based SQL, all conflicting"),
        ):
            by_hand = measure(lambda: set_based_sweep(timezone.now()), 0)
            swept = measure(sweep, 0)
            summary = {k: v for k, v in swept.result.items() if v}
            counted = {k: v for k, v in summary.items() if isinstance(v, int) and k != "dry_run"}
            escalated = sum(v for k, v in counted.items() if k.startswith("escalated_to_stage_"))
            brief = {k: v for k, v in counted.items() if not k.startswith("escalated_to_stage_")}
            if escalated:
                brief["escalated"] = escalated
            outbox = sum(by_hand.result.values())
            note = ", ".join(f"{k} {v:,}" for k, v in sorted(brief.items())) or "nothing to do"
            rows.append(
                Row(
                    "sweep", label, swept, anchor, by_hand,
                    note=f"{note}; SQL wrote {outbox:,} outbox rows",
                    extra={"summary": summary, "set_based_outbox_rows": by_hand.result},
                )
            )  # fmt: skip
        return rows

    # -- import -----------------------------------------------------------------------

    def _section_import(self, ctx: Context) -> list[Row]:
        """import_paths of a generated CSV (bench_import's file), all new, then again all
        unchanged; next to COPY of the same file into a plain text table."""
        from registry.management.commands import bench_import

        n = self.options["import_rows"] or min(100_000, ctx.n_paths)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "paths.csv"
            bench_import.Command()._write_csv(path, n)
            with psycopg.connect(**self._connect_kwargs(ctx.scratch)) as raw:
                copied = measure(lambda: copy_file(raw, path), 2)

            def run() -> str:
                out = StringIO()
                call_command(
                    "import_paths", str(path), "--format", "csv", "--no-progress", stdout=out
                )
                return out.getvalue().strip().splitlines()[-1]

            for label in (f"import {n:,} new rows", f"import {n:,} unchanged rows"):
                timing = measure(run, 0)
                rate = n / (timing.median_ms / 1000)
                copy_rate = n / (copied.median_ms / 1000)
                rows.append(
                    Row(
                        "import", label, timing, "COPY of the file, scratch table", copied,
                        note=f"{rate:,.0f} rows/s (COPY {copy_rate:,.0f}); {timing.result}",
                        extra={"rows": n, "rows_per_s": rate, "copy_rows_per_s": copy_rate},
                    )
                )  # fmt: skip
        return rows

    # -- leases -----------------------------------------------------------------------

    def _section_leases(self, ctx: Context) -> list[Row]:
        return measure_leases(ctx.samples, say=self.say)

    # -- output -----------------------------------------------------------------------

    def _print_table(self, rows: list[Row], ctx: Context) -> None:
        for line in table_lines(rows, n_paths=ctx.n_paths, samples=ctx.samples):
            self.say(line)

    def _write_json(
        self, rows: list[Row], meta: dict[str, Any], ctx: Context, *, quiet: bool = False
    ) -> None:
        target = Path(self.options["json"] or Path(settings.VAR_DIR) / f"bench-{ctx.n_paths}.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {**meta, "argv": sys.argv[1:], "rows": [row.as_json() for row in rows]}
        target.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        if not quiet:
            self.say(f"results written to {target}")
