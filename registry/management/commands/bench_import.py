"""Measure `import_paths` on a generated CSV of N paths in a scratch PostgreSQL
database, next to PostgreSQL's own COPY of the same file into a plain table (the
yardstick: no validation, no audit, no upsert). Timings are printed, never asserted."""

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

    def handle(self, *args, **options) -> None:
        rows = options["rows"]
        if rows < 10:
            raise CommandError("--rows must be at least 10.")
        if connection.vendor != "postgresql":
            raise CommandError("bench_import measures PostgreSQL only: set DATABASE_URL.")
        scratch = f"nhi_bench_import_{os.getpid()}"
        with self._scratch_database(scratch), tempfile.TemporaryDirectory() as tmp:
            self._measure_import(scratch, rows, Path(tmp) / "paths.csv")

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
