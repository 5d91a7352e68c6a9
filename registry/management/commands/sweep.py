from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.runtime.request_id import request_context
from registry.services.sweep import sweep


class Command(BaseCommand):
    help = (
        "Queue what is due now: reminders, escalations, lapses, expiries. Prints JSON, with "
        "this process's clock skew from the database's; refuses (exit 1) when they disagree "
        "by more than NHI_MAX_CLOCK_SKEW_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be done; change nothing."
        )
        parser.add_argument(
            "--ignore-clock",
            action="store_true",
            help=(
                "Act even when this host's clock and the database's disagree (only when you "
                "know this host's clock is the right one)."
            ),
        )

    def handle(
        self, *args: Any, dry_run: bool = False, ignore_clock: bool = False, **options: Any
    ) -> None:
        with request_context():
            summary = sweep(dry_run=dry_run, ignore_clock=ignore_clock)
        self.stdout.write(json.dumps(summary, sort_keys=True))
        if "refused" in summary:
            raise CommandError(
                f"Sweep refused: this host's clock is {summary['clock_skew_seconds']:+.3f} s "
                "from the database's, more than NHI_MAX_CLOCK_SKEW_SECONDS "
                f"({summary['max_clock_skew_seconds']:g} s). Nothing was changed."
            )
