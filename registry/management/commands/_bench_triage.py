"""The triage part of `manage.py bench`: lookups through the service at the loaded estate's
size, and the identifiers every benchmark path carries so that they can be found."""

from __future__ import annotations

import hashlib
import math
import random
import statistics
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.rules.actors import Actor
from registry.runtime.request_id import request_context
from registry.selectors.triage import parse_query, triage_find
from registry.services.triage import triage_lookup


def bench_key_id(i: int) -> str:
    return f"AKIA{i:016d}"


def bench_fingerprint(i: int) -> str:
    return hashlib.sha256(f"bench-credential-{i}".encode()).hexdigest()


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def measure_triage(stdout, reviewer: User, n_paths: int, samples: int) -> None:
    """Triage lookups through the service (the read, its audit event and the notice
    to the team, committed): a reviewer by key id, an outsider (in no team) by
    fingerprint, and a miss; a different random path each time."""
    outsider = get_user_model().objects.create_user("bench-outsider")
    callers = {"security": Actor.for_user(reviewer), "outsider": Actor.for_user(outsider)}
    rng = random.Random(11)  # noqa: S311 - which paths to look up, not a secret

    def read_only(actor: Actor, value: str) -> None:
        triage_find(actor=actor, query=parse_query(value))

    # (label, caller, the identifier for path i, what is measured)
    lookups: list[tuple[str, str, Callable[[int], str], Callable[..., object]]] = [
        ("triage by key id, security", "security", bench_key_id, triage_lookup),
        ("triage by fingerprint, outsider", "outsider", bench_fingerprint, triage_lookup),
        ("triage of an unknown key id", "security", lambda i: f"AKIZ{i:016d}", triage_lookup),
        ("  the read alone, by key id", "security", bench_key_id, read_only),
        ("  the read alone, by fingerprint", "outsider", bench_fingerprint, read_only),
    ]
    stdout.write("")
    stdout.write(
        f"Triage at {n_paths:,} paths ({2 * n_paths:,} identifiers), {samples} lookups each"
    )
    header = f"{'lookup':<40} {'queries':>7} {'median ms':>10} {'p95 ms':>8}"
    stdout.write(header)
    stdout.write("-" * len(header))
    for label, who, value, lookup in lookups:
        actor = callers[who]
        with request_context():
            for _ in range(2):
                lookup(actor=actor, value=value(rng.randrange(n_paths)))
            with CaptureQueriesContext(connection) as captured:
                lookup(actor=actor, value=value(rng.randrange(n_paths)))
            timings = []
            for _ in range(samples):
                chosen = value(rng.randrange(n_paths))
                started = time.perf_counter()
                lookup(actor=actor, value=chosen)
                timings.append((time.perf_counter() - started) * 1000)
        stdout.write(
            f"{label:<40} {len(captured.captured_queries):>7} {median(timings):>10.2f} "
            f"{p95(timings):>8.2f}"
        )
