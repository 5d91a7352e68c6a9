"""manage.py import_paths FILE --format F [--system S] [--team SLUG] [--dry-run]
[--partial] [--full-sync]: register or update access paths from a source's export."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.importers.formats import FORMATS, READERS
from registry.models import ImportRun, Team
from registry.rules.actors import Actor
from registry.rules.owner_suggestions import OwnerRulesError, load_rules
from registry.runtime.request_id import request_context
from registry.services.import_queue import ImportOptions
from registry.services.imports import ImportReport, paths_import

BAR_WIDTH = 30
DRY_RUN_FAILED = "Dry run: {failed:,} row(s) would fail; {then} Nothing was changed."
DRY_RUN_REFUSED = "a real run would import nothing (fix them, or use --partial)."
DRY_RUN_PARTIAL = "a real run with --partial would apply the other rows only."


class Command(BaseCommand):
    help = (
        "Import access paths from a file: the registry's own csv/json, or a source's export "
        f"({', '.join(FORMATS)}). Upserts by (system, external_id); a second identical "
        "import changes nothing. By default any bad row refuses the whole import."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="the file to read ('-' for standard input)")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--system", default="", help="the system name to record")
        parser.add_argument(
            "--team", default="", help="slug of the steward team for rows that name none"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report, change nothing; exit non-zero if a row would fail",
        )
        parser.add_argument("--partial", action="store_true", help="apply the good rows")
        parser.add_argument(
            "--full-sync",
            action="store_true",
            help="flag this source's live paths that the file does not list",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        try:
            load_rules()
        except OwnerRulesError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from exc
        steward = None
        if options["team"]:
            steward = Team.objects.filter(slug=options["team"]).first()
            if steward is None:
                raise CommandError(f"No team with the slug {options['team']!r}.")
        name = options["file"]
        try:
            source = sys.stdin.buffer if name == "-" else Path(name).open("rb")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc
        with source, request_context():
            rows = list(READERS[options["format"]](source, system=options["system"] or None))
            chosen = ImportOptions(
                source_format=options["format"],
                system=options["system"],
                steward=steward,
                dry_run=options["dry_run"],
                partial=options["partial"],
                full_sync=options["full_sync"],
            )
            report = paths_import(
                actor=Actor.system("import_paths"),
                rows=rows,
                file_name=Path(name).name,
                progress=None if options["no_progress"] else self._progress,
                **chosen.as_kwargs(),
            )
        self._report(report)

    def _progress(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        end = "\n" if done >= total else ""
        self.stderr.write(f"\r[{bar}] {done:,}/{total:,} rows", ending=end)
        self.stderr.flush()

    def _report(self, report: ImportReport) -> None:
        run = report.run
        counts = ", ".join(f"{key} {value:,}" for key, value in sorted(report.counts.items()))
        for error in report.errors:
            where = f"line {error['line']}" if error["line"] else "the file"
            ident = f" ({error['external_id']})" if error["external_id"] else ""
            self.stdout.write(f"{where}{ident}: {'; '.join(error['errors'])}")
        self.stdout.write(f"import {run.pk}: {run.get_status_display()}; {counts or 'no rows'}")
        failed = report.counts["failed"]
        if run.status == ImportRun.Status.REFUSED:
            raise CommandError(
                f"{failed:,} row(s) failed: nothing was imported "
                "(fix them, or use --partial to apply the good rows)."
            )
        if run.status == ImportRun.Status.DRY_RUN and failed:
            # A dry run gates a pipeline: it fails when the real run would fail a row.
            raise CommandError(
                DRY_RUN_FAILED.format(
                    failed=failed,
                    then=DRY_RUN_PARTIAL if run.partial else DRY_RUN_REFUSED,
                )
            )
