"""manage.py export_paths [--format csv|json] [--output FILE] [--filter KEY=VALUE ...]:
the inventory's filters, the whole estate by default."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from registry.rules.actors import Actor
from registry.rules.errors import Invalid
from registry.selectors import path_list
from registry.selectors.exports import csv_lines, json_chunks
from registry.web.views.inventory import filters_from


class Command(BaseCommand):
    help = "Export access paths as CSV or JSON, filtered like the inventory."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", default="-", help="a file, or '-' for stdout")
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an inventory filter, e.g. status=overdue (repeatable)",
        )

    def handle(self, *args, **options) -> None:
        query = QueryDict(mutable=True)
        for item in options["filter"]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--filter takes KEY=VALUE, not {item!r}.")
            query.appendlist(key, value)
        try:
            paths = path_list(actor=Actor.system("export_paths"), filters=filters_from(query))
        except Invalid as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            raise CommandError(f"Bad filter: {problems}") from exc
        chunks = csv_lines(paths) if options["format"] == "csv" else json_chunks(paths)
        if options["output"] == "-":
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        with Path(options["output"]).open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
