"""Look after the dashboard's tally (registry/services/tallies.py)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from registry.rules.policies import current_policy
from registry.selectors.tallies import tally_is_current
from registry.services.tallies import fold_tally, rebuild_tallies, refresh_due_facts


class Command(BaseCommand):
    help = (
        "Show whether the dashboard's tally matches the configured rules and policy; "
        "--rebuild recomputes every path's facts and the tally (after a bulk load or a "
        "policy change; the sweep also does it when the policy changed), --due "
        "reclassifies the paths whose facts ran out, --fold folds appended deltas. Reads "
        "stay exact throughout: a path whose facts are being recomputed is counted directly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument("--due", action="store_true")
        parser.add_argument("--fold", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        started = time.monotonic()
        if options["rebuild"]:
            paths = rebuild_tallies(now=now)
            self.stdout.write(f"rebuilt: {paths} paths in {time.monotonic() - started:.1f} s")
        if options["due"]:
            paths = refresh_due_facts(now=now)
            self.stdout.write(f"reclassified: {paths} paths whose facts ran out")
        if options["fold"]:
            self.stdout.write(f"folded: {fold_tally()} delta rows")
        current = tally_is_current(current_policy())
        self.stdout.write(
            "tally: current" if current else "tally: not current (reads count directly)"
        )
