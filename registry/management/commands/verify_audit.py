from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.audit import verify_chain
from registry.audit.anchors import verify_anchors
from registry.audit.signing import load_public_key, private_key


class Command(BaseCommand):
    help = (
        "Walk the audit chain; exit non-zero naming the first missing or altered event. "
        "With --anchors, also prove the chain still extends every signed anchor (catches a "
        "chain rewritten end to end by someone holding the database)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--anchors", type=Path, help="an anchor sink directory or an anchors.jsonl file"
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM public key to check signatures with (default: the configured key's)",
        )

    def handle(self, *args, **options) -> None:
        report = verify_chain()
        if not report.intact:
            raise CommandError(
                f"Audit chain BROKEN at event #{report.broken_seq}: {report.problem} "
                f"({report.checked} events before it verified)."
            )
        self.stdout.write(f"Audit chain intact: {report.checked} events verified.")
        if options["anchors"] is None:
            return
        if options["public_key"] is not None:
            try:
                key = load_public_key(options["public_key"].read_bytes())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the public key: {exc}") from exc
        else:
            key = private_key().public_key()
        anchored = verify_anchors(options["anchors"], key)
        if not anchored.intact:
            raise CommandError(f"Audit chain does NOT match its anchors: {anchored.problem}.")
        scope = " (heads only: the segment files are not here)" if anchored.heads_only else ""
        self.stdout.write(
            f"Anchors match: {anchored.anchors} signed anchors, "
            f"{anchored.events_checked} anchored events still in the chain{scope}."
        )
        if anchored.unreadable_lines:
            lines = ", ".join(map(str, anchored.unreadable_lines))
            self.stdout.write(f"Unreadable lines skipped (a write cut short?): {lines}.")
