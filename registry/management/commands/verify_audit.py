from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.audit import verify_chain
from registry.audit.anchors import verify_anchors
from registry.audit.signing import load_public_key, private_key
from registry.audit.snapshot import chain_snapshot


class Command(BaseCommand):
    help = (
        "Walk the audit chain; exit non-zero naming the first missing or altered event. "
        "With --anchors, also prove the chain still extends every signed anchor (catches a "
        "chain rewritten end to end by someone holding the database). Everything is read "
        "in one snapshot, so it may run while the registry is writing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchors", type=Path, help="an anchor sink directory or an anchors.jsonl file"
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM public key to check signatures with (default: the configured key's)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key = None if options["anchors"] is None else _public_key(options["public_key"])
        # One snapshot for both checks: the chain the anchors are compared with is the
        # chain that was just walked, whatever is appended meanwhile.
        with chain_snapshot():
            report = verify_chain()
            anchored = None if key is None else verify_anchors(options["anchors"], key)
        if not report.intact:
            raise CommandError(
                f"Audit chain BROKEN at event #{report.broken_seq}: {report.problem} "
                f"({report.checked} events before it verified)."
            )
        self.stdout.write(f"Audit chain intact: {report.checked} events verified.")
        if anchored is None:
            return
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


def _public_key(path: Path | None) -> Ed25519PublicKey:
    """The key the anchors were signed with: the file given, else the configured one's."""
    try:
        if path is not None:
            return load_public_key(path.read_bytes())
        return private_key().public_key()
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read the public key: {exc}") from exc
    except ImproperlyConfigured as exc:
        raise CommandError(
            f"No key to check the anchors with: {exc} (or pass --public-key PEM)."
        ) from exc
