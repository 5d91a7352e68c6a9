"""Time the credential detector on the values an import feeds it, on one core.

Builds a deterministic (seeded) mix of typical field values: names, Kubernetes names and
service accounts, ARNs, UUIDs, ticket URLs, justifications of 40-200 characters, external
ids, fingerprints, e-mails, dates, scopes. Times `find_secret` over them in one process
pinned to one CPU, prints values per second, and fails below --min-rate. The positive
corpus (tests/samples/secrets/positives.jsonl) is timed separately: secrets take the
slow path through every stage, imports almost never do.

    manage.py bench_detector [--values N] [--min-rate R]
"""

from __future__ import annotations

import json
import os
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.rules.secret_scan import find_secret
from registry.rules.secret_scan.detector import PREFILTER

SEED = 1729
DEFAULT_MIN_RATE = 200_000
HEX = "0123456789abcdef"
TEAMS = ["payments", "data", "growth", "platform", "security", "ledger", "search"]
PURPOSES = [
    "billing-export",
    "ledger-sync",
    "fraud-scoring",
    "payout-batch",
    "etl-loader",
    "dbt-runner",
    "feature-store",
    "warehouse-sync",
    "crm-sync",
    "log-shipper",
    "deploy-bot",
    "backup-agent",
    "search-indexer",
    "report-mailer",
]
SYSTEMS = [
    "aws",
    "gcp",
    "azure",
    "github",
    "gitlab",
    "kubernetes",
    "vault",
    "okta",
    "snowflake",
    "datadog",
    "stripe",
    "salesforce",
]
POLICIES = [
    "AdministratorAccess",
    "AmazonS3ReadOnlyAccess",
    "AWSLambdaBasicExecutionRole",
    "AmazonEC2ContainerRegistryReadOnly",
    "CloudWatchAgentServerPolicy",
    "AmazonDynamoDBFullAccess",
    "SecretsManagerReadWrite",
]
VERBS = ["reads", "writes", "syncs", "exports", "signs requests for", "deploys", "monitors"]
# Justification fragments, some mentioning credentials the way people do.
OPENINGS = [
    "The {purpose} job {verb} {system} data in prod for the {team} team",
    "Used by the {purpose} service to {verb2} the {team} ledger every night",
    "Service account for {purpose}; it {verb} objects in the {team} bucket",
    "Needed by {team} to run {purpose} against {system} during month-end close",
    "Deploy key for the {team} repo used by the {purpose} pipeline",
]
CLOSINGS = [
    ".",
    ", rotated by Vault every 30 days.",
    "; the API key is stored in Vault at secret/{team} and never copied.",
    ". Password rotation is handled by the secret manager (ticket {ticket}).",
    ". The token is short-lived and minted per run via OIDC.",
    ", see {ticket} for the original approval and the revocation plan.",
    ". Scope: s3:GetObject on {team}-exports/* and nothing else.",
    " until the migration to workload identity lands in Q3 (owner: {team} leads).",
]


class Mix:
    """Typical field values, weighted roughly as an inventory import sees them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.makers: list[tuple[Callable[[], tuple[str, bool]], int]] = [
            (self.name, 12),
            (self.k8s_name, 8),
            (self.service_account, 4),
            (self.arn, 10),
            (self.uuid, 10),
            (self.ticket_url, 8),
            (self.justification, 18),
            (self.external_id, 10),
            (self.fingerprint, 6),
            (self.email, 5),
            (self.timestamp, 5),
            (self.scope, 4),
        ]

    def value(self) -> tuple[str, bool]:
        makers, weights = zip(*self.makers, strict=True)
        return self.rng.choices(makers, weights)[0]()

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice(HEX) for _ in range(length))

    def name(self) -> tuple[str, bool]:
        purpose, system = self.rng.choice(PURPOSES), self.rng.choice(SYSTEMS)
        return self.rng.choice(
            [
                f"{purpose}-{system}-{self.rng.randint(0, 999):03d}",
                f"{purpose.replace('-', ' ').title()} Bot",
                f"svc-{purpose}",
            ]
        ), False

    def k8s_name(self) -> tuple[str, bool]:
        return f"{self.rng.choice(PURPOSES)}-{self.hex(10)}-{self.hex(5)}", False

    def service_account(self) -> tuple[str, bool]:
        team, purpose = self.rng.choice(TEAMS), self.rng.choice(PURPOSES)
        return f"system:serviceaccount:{team}:{purpose}", False

    def arn(self) -> tuple[str, bool]:
        account = "".join(self.rng.choice(string.digits) for _ in range(12))
        return self.rng.choice(
            [
                f"arn:aws:iam::{account}:role/{self.rng.choice(PURPOSES)}",
                f"arn:aws:iam::aws:policy/{self.rng.choice(POLICIES)}",
                f"arn:aws:iam::{account}:user/teams/{self.rng.choice(TEAMS)}/svc",
            ]
        ), False

    def uuid(self) -> tuple[str, bool]:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), False

    def ticket_url(self) -> tuple[str, bool]:
        key = self.rng.choice(["PAY", "SEC", "DATA", "OPS"])
        return f"https://jira.example.com/browse/{key}-{self.rng.randint(1, 9999)}?x=1", False

    def justification(self) -> tuple[str, bool]:
        fields = {
            "purpose": self.rng.choice(PURPOSES),
            "system": self.rng.choice(SYSTEMS),
            "team": self.rng.choice(TEAMS),
            "verb": self.rng.choice(VERBS),
            "verb2": self.rng.choice(["reconcile", "export", "sync", "audit"]),
            "ticket": f"PAY-{self.rng.randint(100, 9999)}",
        }
        text = self.rng.choice(OPENINGS).format(**fields)
        text += self.rng.choice(CLOSINGS).format(**fields)
        if len(text) < 80 and self.rng.random() < 0.5:
            text += " " + self.rng.choice(OPENINGS).format(**fields) + "."
        return text[:200], False

    def external_id(self) -> tuple[str, bool]:
        rng = self.rng
        key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        project = f"acme-{rng.choice(TEAMS)}-prod"
        return rng.choice(
            [
                key_id,
                str(rng.randint(1000, 99_999_999)),
                f"vault:approle/{rng.choice(PURPOSES)}",
                f"projects/{project}/serviceAccounts/{rng.choice(PURPOSES)}@{project}.iam."
                f"gserviceaccount.com/keys/{self.hex(40)}",
                self.uuid()[0],
            ]
        ), True

    def fingerprint(self) -> tuple[str, bool]:
        return self.rng.choice([self.hex(64), f"sha256:{self.hex(64)}", self.hex(40)]), False

    def email(self) -> tuple[str, bool]:
        user = self.rng.choice(["alice", "bob.smith", "payments-team", self.rng.choice(TEAMS)])
        return f"{user}@example.com", False

    def timestamp(self) -> tuple[str, bool]:
        day = self.rng.randint(1, 28)
        return self.rng.choice(
            [f"2026-11-{day:02d}", f"2026-11-{day:02d}T08:15:02Z", "0 3 * * *", "v2.14.0"]
        ), False

    def scope(self) -> tuple[str, bool]:
        return self.rng.choice(
            [
                "s3:GetObject on billing-exports/*",
                "repo:contents read on payments-api",
                "roles/bigquery.dataViewer on analytics",
                "namespace-scoped edit in payments",
                "kv/billing/* read",
                "db_datareader on ledger",
            ]
        ), False


@contextmanager
def _one_core() -> Iterator[str]:
    """Pin this process to one CPU for the measurement, then give the others back."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity)"
        return
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, allowed)


def _rate(values: list[tuple[str, bool]]) -> tuple[float, float, int]:
    """(values/s of CPU time, values/s of wall time, values flagged), one timed pass after
    a warm-up. CPU time is this process's own: on a shared machine wall time also counts
    whoever else had the core."""
    for value, identifier in values[:2000]:
        find_secret(value, identifier=identifier)
    wall, cpu = time.perf_counter(), time.process_time()
    hits = sum(1 for value, identifier in values if find_secret(value, identifier=identifier))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(values) / max(cpu, 1e-9), len(values) / max(wall, 1e-9), hits


class Command(BaseCommand):
    help = "Measure find_secret's throughput on typical field values (one core)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--values", type=int, default=200_000)
        parser.add_argument("--min-rate", type=float, default=DEFAULT_MIN_RATE)
        parser.add_argument("--seed", type=int, default=SEED)
        parser.add_argument(
            "--positives",
            type=Path,
            default=Path(settings.BASE_DIR) / "tests" / "samples" / "secrets" / "positives.jsonl",
        )

    def handle(self, *args, **options) -> None:
        with _one_core() as pinned:
            self.stdout.write(pinned)
            self._measure(options)

    def _measure(self, options: dict) -> None:
        mix = Mix(random.Random(options["seed"]))  # noqa: S311 - a reproducible sample
        values = [mix.value() for _ in range(options["values"])]
        average = sum(len(value) for value, _ in values) / max(len(values), 1)
        passing = sum(1 for value, _ in values if PREFILTER.search(value))
        rate, wall_rate, hits = _rate(values)
        self.stdout.write(
            f"typical values: {len(values):,} (average {average:.0f} chars, "
            f"{passing / max(len(values), 1):.1%} past the prefilter): {rate:,.0f} values/s "
            f"(CPU time; {wall_rate:,.0f}/s wall clock)"
        )
        if hits:
            flagged = [v for v, i in values if find_secret(v, identifier=i)][:5]
            self.stdout.write(self.style.WARNING(f"{hits} typical values flagged: {flagged}"))
        self._positives(options["positives"], repeat_to=min(options["values"], 20_000))
        if rate < options["min_rate"]:
            raise CommandError(f"{rate:,.0f} values/s is below {options['min_rate']:,.0f}")

    def _positives(self, path: Path, *, repeat_to: int) -> None:
        if not path.exists():
            self.stdout.write(f"positive corpus: {path} not found, skipped")
            return
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        # Repeated up to about as many values as the typical mix (20,000 at most).
        positives = [(line["value"], False) for line in lines] * max(1, repeat_to // len(lines))
        rate, wall_rate, hits = _rate(positives)
        self.stdout.write(
            f"positive corpus: {len(lines)} values ({hits / len(positives):.1%} detected): "
            f"{rate:,.0f} values/s (CPU time; {wall_rate:,.0f}/s wall clock)"
        )
