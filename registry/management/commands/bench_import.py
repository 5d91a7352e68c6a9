"""Measure `import_paths` on a generated CSV of N paths in a scratch PostgreSQL
database, next to PostgreSQL's own COPY of the same file into a plain table (the
yardstick: no validation, no audit, no upsert). Timings are printed, never asserted.

`--indexes` then measures what the paths table's indexes cost the import's two writes:
inserting N more rows (all indexes; without the three trigram indexes; primary key
only) and the run's stamp of N rows (as it is; without the index on last_import_run;
without it and with room on each page for a heap-only update). Each measurement runs in
a transaction that is rolled back, so every one starts from the same table."""

from __future__ import annotations

import csv
import os
import random
import tempfile
import time
from io import StringIO
from pathlib import Path

import psycopg
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from registry import services
from registry.management.commands import bench
from registry.models import AccessPath
from registry.rules.actors import Actor

COLUMNS = [
    "name", "kind", "system", "external_id", "environment", "steward_team", "consumers",
    "privilege_scope", "credential_lifetime", "last_used_at", "created_by_ref",
]  # fmt: skip


class Command(bench.Command):
    help = (
        "Benchmark import_paths on N generated CSV rows in a scratch PostgreSQL database "
        "(created and dropped by the command), next to COPY of the same file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rows", type=int, default=100_000, help="CSV rows to import")
        parser.add_argument(
            "--indexes",
            action="store_true",
            help="also measure inserts and the stamp with fewer indexes on the paths table",
        )

    def handle(self, *args, **options) -> None:
        rows = options["rows"]
        if rows < 10:
            raise CommandError("--rows must be at least 10.")
        if connection.vendor != "postgresql":
            raise CommandError("bench_import measures PostgreSQL only: set DATABASE_URL.")
        scratch = f"nhi_bench_import_{os.getpid()}"
        with self._scratch_database(scratch), tempfile.TemporaryDirectory() as tmp:
            self._measure_import(scratch, rows, Path(tmp) / "paths.csv")
            if options["indexes"]:
                self._measure_indexes(scratch, rows)

    def _write_csv(self, path: Path, n: int) -> None:
        rng = random.Random(20261122)  # noqa: S311 - a reproducible file, not a secret
        kinds, envs = AccessPath.Kind.values, AccessPath.Environment.values
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for i in range(n):
                system = bench.SYSTEMS[i % len(bench.SYSTEMS)]
                purpose = rng.choice(bench.PURPOSES)
                writer.writerow(
                    [
                        f"{purpose}-{system}-{i:07d}", kinds[i % len(kinds)], system,
                        f"import-{i:07d}", envs[i % len(envs)], "platform", f"{purpose} job",
                        rng.choice(bench.SCOPES), "long_lived",
                        f"2026-{1 + i % 10:02d}-{1 + i % 28:02d}T08:00:00+00:00",
                        f"discovery-{i % 50}",
                    ]
                )  # fmt: skip

    def _import(self, path: Path, label: str, n: int) -> None:
        out = StringIO()
        started = time.perf_counter()
        call_command("import_paths", str(path), "--format", "csv", "--no-progress", stdout=out)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{label:<40} {elapsed:8.1f} s {n / elapsed:10,.0f} rows/s   "
            f"{out.getvalue().strip().splitlines()[-1]}"
        )

    def _measure_import(self, scratch: str, n: int, path: Path) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        services.team_create(
            actor=Actor.system("bench"),
            data={"slug": "platform", "name": "Platform", "kind": "platform"},
        )
        self._write_csv(path, n)
        self.stdout.write(f"{n:,} rows, {path.stat().st_size / 1e6:.1f} MB of CSV")
        self._import(path, "import_paths (all new)", n)
        self._import(path, "import_paths again (all unchanged)", n)
        with psycopg.connect(**self._connect_kwargs(scratch)) as conn, conn.cursor() as cur:
            columns = sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(c)) for c in COLUMNS
            )
            cur.execute(sql.SQL("CREATE TABLE copy_yardstick ({})").format(columns))
            started = time.perf_counter()
            statement = "COPY copy_yardstick FROM STDIN WITH (FORMAT csv, HEADER true)"
            with cur.copy(statement) as copy, path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
            elapsed = time.perf_counter() - started
        label = "COPY of the same file (yardstick)"
        self.stdout.write(f"{label:<40} {elapsed:8.1f} s {n / elapsed:10,.0f} rows/s")

    # -- what the indexes cost ------------------------------------------------------------

    def _timed(self, conn: psycopg.Connection, label: str, n: int, setup: list[str], run: str):
        """Run `setup` then `run` in one transaction, time `run`, roll everything back."""
        with conn.cursor() as cur:
            for statement in setup:
                cur.execute(statement)
            started = time.perf_counter()
            cur.execute(run)
            elapsed = time.perf_counter() - started
        conn.rollback()
        self.stdout.write(f"{label:<58} {elapsed:8.2f} s {n / elapsed:10,.0f} rows/s")

    def _measure_indexes(self, scratch: str, n: int) -> None:
        with psycopg.connect(**self._connect_kwargs(scratch)) as conn:
            indexes = [
                name
                for (name,) in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'registry_accesspath'"
                )
            ]
            conn.rollback()
            pkey = "registry_accesspath_pkey"
            trigram = [name for name in indexes if name.endswith("_trgm")]
            by_run = [name for name in indexes if "last_import_run_id" in name]
            others = [name for name in indexes if name != pkey]
            # Copies of the imported rows under new keys: what a second file of new paths
            # writes, without the import's Python in front of it.
            source = [
                "CREATE TEMP TABLE bench_new AS SELECT * FROM registry_accesspath",
                "UPDATE bench_new SET id = gen_random_uuid(), external_id = external_id || '-2'",
            ]
            insert = "INSERT INTO registry_accesspath SELECT * FROM bench_new"
            self.stdout.write(f"paths table: {len(indexes)} indexes")

            def drop(names: list[str]) -> list[str]:
                # A unique index backs a constraint: drop the constraint, which drops it.
                statements = []
                for name in names:
                    statements.append(
                        f"ALTER TABLE registry_accesspath DROP CONSTRAINT IF EXISTS {name}"
                    )
                    statements.append(f"DROP INDEX IF EXISTS {name}")
                return statements

            self._timed(conn, f"INSERT {n:,} paths, all {len(indexes)} indexes", n, source, insert)
            self._timed(
                conn,
                f"INSERT {n:,} paths, without the {len(trigram)} trigram indexes",
                n,
                [*source, *drop(trigram)],
                insert,
            )
            self._timed(
                conn, f"INSERT {n:,} paths, primary key only", n, [*source, *drop(others)], insert
            )
            stamp = (
                "UPDATE registry_accesspath SET import_source = 'csv', last_seen_at = now(), "
                "last_import_run_id = (SELECT id FROM registry_importrun ORDER BY created_at "
                "LIMIT 1)"
            )
            self._timed(conn, f"stamp {n:,} paths, as it is", n, [], stamp)
            self._timed(
                conn, f"stamp {n:,} paths, no index on last_import_run", n, drop(by_run), stamp
            )
            # Room on each page lets PostgreSQL write a heap-only tuple (no index entry at
            # all) when no indexed column changes: fillfactor applies to rewritten pages.
            roomy = [
                "ALTER TABLE registry_accesspath SET (fillfactor = 70)",
                "VACUUM FULL registry_accesspath",
            ]
            conn.autocommit = True
            with conn.cursor() as cur:
                for statement in roomy:
                    cur.execute(statement)
            conn.autocommit = False
            self._timed(
                conn,
                f"stamp {n:,} paths, no index on last_import_run, fillfactor 70",
                n,
                drop(by_run),
                stamp,
            )
