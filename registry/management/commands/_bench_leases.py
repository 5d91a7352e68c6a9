"""The leases part of `manage.py bench`: a pipeline's bulk call recording full batches
of new leases under one issuer, as the API records them (services/leases.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.management.commands._bench_measure import Row, measure
from registry.models import AccessPath
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.runtime.request_id import request_context
from registry.services._common import lock_path, save_path
from registry.services.leases import leases_record


def measure_leases(samples: int, *, say: Callable[[str], None]) -> list[Row]:
    """Full batches (the policy's max_leases_per_request) of new leases under one
    issuer, a live owned path of the loaded estate made a Vault role; leases per second."""
    size = current_policy().max_leases_per_request
    now = timezone.now()
    with request_context(), transaction.atomic():
        live = AccessPath.objects.filter(
            state=AccessPath.State.ACTIVE, expires_at__gt=now + dt.timedelta(days=1)
        )
        found = live.order_by("id").first()
        if found is None:
            say("  no live owned path to make an issuer: leases skipped")
            return []
        issuer = lock_path(found.pk)
        save_path(issuer, {"issuer_kind": AccessPath.IssuerKind.VAULT_ROLE}, now=now)
    actor = Actor.system("bench")
    batches = itertools.count()

    def record() -> Any:
        n, at = next(batches), timezone.now()
        start = at - dt.timedelta(hours=1)
        leases = [
            {
                "lease_ref": f"bench/{n}/{i:05d}",
                "subject": f"ci:bench/deploy#{n}",
                "issued_at": (start + dt.timedelta(milliseconds=500 * i)).isoformat(),
                "ttl_seconds": 900,
            }
            for i in range(size)
        ]
        with request_context():
            return leases_record(actor=actor, issuer=issuer, leases=leases, now=at)

    timing = measure(record, samples)
    rate = size / (timing.median_ms / 1000)
    return [
        Row(
            "leases", f"record {size:,}-lease batches", timing,
            note=f"{rate:,.0f} leases/s", extra={"batch": size, "leases_per_s": rate},
        )
    ]  # fmt: skip
