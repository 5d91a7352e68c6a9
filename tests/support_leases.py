"""Issuers and leases for the tests: an issuer path, and batches of leases as a pipeline
sends them."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from registry.models import AccessPath
from registry.services.tallies import refresh_facts


def make_issuer(
    path: AccessPath,
    *,
    now: dt.datetime,
    kind: str = AccessPath.IssuerKind.VAULT_ROLE,
    max_lease_seconds: int | None = 3600,
) -> AccessPath:
    """Make a registered path an issuer. (Registering one through the path forms and
    serializers is another part's; here only the fields matter, with the path's facts
    kept true as every path write keeps them.)"""
    with transaction.atomic():
        AccessPath.objects.filter(pk=path.pk).update(
            issuer_kind=kind, max_lease_seconds=max_lease_seconds
        )
        refresh_facts([path.pk], now=now)
    return AccessPath.objects.get(pk=path.pk)


def lease_items(
    count: int,
    *,
    start: dt.datetime,
    prefix: str = "vault:aws/creds/deploy",
    ttl: int = 900,
    subject: str = "ci:payments/deploy",
    spacing: dt.timedelta = dt.timedelta(seconds=1),
    offset: int = 0,
) -> list[dict]:
    """`count` leases as the API takes them, issued `spacing` apart from `start`."""
    return [
        {
            "lease_ref": f"{prefix}/{offset + index:06d}",
            "subject": subject,
            "issued_at": (start + spacing * index).isoformat(),
            "ttl_seconds": ttl,
        }
        for index in range(count)
    ]
