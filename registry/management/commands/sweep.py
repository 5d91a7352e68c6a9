import json

from django.core.management.base import BaseCommand

from registry.runtime.request_id import request_context
from registry.services.sweep import sweep


class Command(BaseCommand):
    help = "Queue what is due now: reminders, escalations, lapses, expiries. Prints JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be done; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        with request_context():
            summary = sweep(dry_run=dry_run)
        self.stdout.write(json.dumps(summary, sort_keys=True))
