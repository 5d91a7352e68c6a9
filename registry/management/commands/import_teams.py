"""`manage.py import_teams FILE [--format backstage|csv] [--dry-run] [--full-sync]`

Reads a Backstage catalog or a team CSV (formats: registry.importers.teams) and brings
the registry's teams, users and memberships in line with it (rules:
registry.services.team_sync), acting as the system actor "import_teams". Prints a
summary; unresolved references are reported, not fatal. A file that cannot be read
fails with the line at fault and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.importers.teams import READERS, TeamFileError
from registry.runtime.request_id import request_context
from registry.services.team_sync import TeamSyncError, team_sync

SUFFIXES = {".yaml": "backstage", ".yml": "backstage", ".csv": "csv"}


class Command(BaseCommand):
    help = "Import teams, users and memberships from a Backstage catalog or a CSV file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="The catalog (YAML) or CSV file to import.")
        parser.add_argument(
            "--format",
            choices=sorted(READERS),
            help="The file's format (default: from its extension, .yaml/.yml or .csv).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; save nothing."
        )
        parser.add_argument(
            "--full-sync",
            action="store_true",
            help=(
                "Also end memberships the file no longer lists, and deactivate teams this "
                "importer manages that the file no longer lists (their paths lapse)."
            ),
        )

    def handle(self, *args, file: str, format: str | None, **options) -> None:
        path = Path(file)
        fmt = format or SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise CommandError(f"Cannot tell the format of {file}: give --format backstage|csv.")
        try:
            with path.open("rb") as source:
                directory = READERS[fmt](source)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        except TeamFileError as exc:
            raise CommandError(f"{file}, {exc}") from exc
        with request_context():
            try:
                report = team_sync(
                    directory=directory,
                    full_sync=options["full_sync"],
                    dry_run=options["dry_run"],
                    source=path.name,
                )
            except TeamSyncError as exc:
                raise CommandError(f"{file}, {str(exc).rstrip('.')}. Nothing was saved.") from exc
        mode = " (full sync)" if options["full_sync"] else ""
        self.stdout.write(f"{fmt} import of {file}{mode}")
        for line in report.lines():
            self.stdout.write(line)
