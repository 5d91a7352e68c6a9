"""The triage part of `manage.py bench`: lookups through the service at the loaded estate's
size, and the identifiers every benchmark path carries so that they can be found."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from registry.management.commands._bench_measure import Row, measure
from registry.rules.actors import Actor
from registry.runtime.request_id import request_context
from registry.selectors.triage import parse_query, triage_find
from registry.services.triage import triage_lookup


def bench_key_id(i: int) -> str:
    return f"AKIA{i:016d}"


def bench_fingerprint(i: int) -> str:
    return hashlib.sha256(f"bench-credential-{i}".encode()).hexdigest()


def measure_triage(reviewer: User, n_paths: int, samples: int) -> list[Row]:
    """Triage lookups through the service (the read, its audit event and the notice
    to the team, committed): a reviewer by key id, an outsider (in no team) by
    fingerprint, and a miss; a different random path each time. Each full lookup's
    anchor is the read alone (the selector, nothing written)."""
    user_model = get_user_model()
    outsider = user_model.objects.filter(
        username="bench-outsider"
    ).first() or user_model.objects.create_user("bench-outsider")
    callers = {"security": Actor.for_user(reviewer), "outsider": Actor.for_user(outsider)}
    rng = random.Random(11)  # noqa: S311 - which paths to look up, not a secret

    def read_only(actor: Actor, value: str) -> None:
        triage_find(actor=actor, query=parse_query(value))

    def timed(who: str, value: Callable[[int], str], lookup: Callable[..., object]):
        actor = callers[who]
        with request_context():
            return measure(
                lambda: lookup(actor=actor, value=value(rng.randrange(n_paths))), samples
            )

    # (label, caller, the identifier for path i, the anchor's label or "")
    lookups: list[tuple[str, str, Callable[[int], str], str]] = [
        ("triage by key id, security", "security", bench_key_id, "read alone, by key id"),
        ("triage by fingerprint, outsider", "outsider", bench_fingerprint,
         "read alone, by fingerprint"),
        ("triage of an unknown key id", "security", lambda i: f"AKIZ{i:016d}", ""),
    ]  # fmt: skip
    rows = []
    for label, who, value, anchor in lookups:
        row = Row("triage", label, timed(who, value, triage_lookup))
        if anchor:
            row.anchor, row.anchor_timing = anchor, timed(who, value, read_only)
        rows.append(row)
    return rows
