import datetime as dt
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry.rules.actors import Actor
from registry.rules.errors import ServiceError
from registry.runtime.request_id import request_context
from registry.selectors.evidence import build_evidence_pack, pack_filename, period_from_dates


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date: {value!r}; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        "Write the auditor evidence pack (CSV files and a manifest in one ZIP) for the days "
        "from --from up to, not including, --to (00:00 UTC). Audited as evidence_pack.generated."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument(
            "--to", dest="until", required=True, help="First day NOT included, YYYY-MM-DD."
        )
        parser.add_argument(
            "--output", help="The ZIP to write (default: nhi-evidence-<from>-<to>.zip here)."
        )

    def handle(self, *args, first: str, until: str, output: str | None = None, **options) -> None:
        first_day, until_day = _date(first), _date(until)
        if until_day <= first_day:
            raise CommandError(
                f"--to ({until_day}) must be after --from ({first_day}): the period runs from "
                "--from up to, not including, --to."
            )
        start, end = period_from_dates(first_day, until_day)
        target = Path(output or pack_filename(first_day, until_day))
        # Written beside the target and renamed once the pack (and its audit event) is
        # complete, so a failed run never leaves a plausible-looking partial pack.
        partial = target.with_name(f".{target.name}.partial")
        try:
            with request_context(), partial.open("wb") as out:
                manifest = build_evidence_pack(
                    actor=Actor.system("evidence_pack"),
                    start=start,
                    end=end,
                    now=timezone.now(),
                    out=out,
                )
        except ServiceError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(exc.message) from exc
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {target}: {exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        for line in manifest.summary_lines():
            self.stdout.write(line)
        self.stdout.write(f"Written to {target}")
        if not manifest.chain_ok:
            raise CommandError(
                f"The audit chain is BROKEN at event #{manifest.chain_broken_seq}: "
                f"{manifest.chain_problem} (the pack records this)."
            )
