"""Just-in-time credentials issued under an issuer path (issue 18).

An issuer (a Vault role, an STS role assumed through OIDC federation, a GitHub App
installation, a SPIFFE registration, a broker) is one AccessPath: it carries the
ownership, review and expiry. Each credential it issues is a Lease — never a path, never
a reminder. Leases are recorded in bulk (services.leases) and folded at once into
LeaseHour (one row per issuer and hour); raw leases are kept for a window
(Policy.lease_retention_days) and then purged: the hourly rows keep the volume, the
lengths and who issued, for good.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from registry.models.paths import AccessPath


class Lease(models.Model):
    """One credential issued just in time. Telemetry, not a record of the registry:
    purged after the retention window, once counted in its LeaseHour."""

    issuer = models.ForeignKey(
        AccessPath, on_delete=models.PROTECT, related_name="leases", db_index=False
    )
    # The issuer's own id for the lease (Vault lease_id, STS session name): a retried
    # batch does not count one twice. Blank when the issuer gives none.
    lease_ref = models.CharField(max_length=200, blank=True)
    # Who received it: the workload, job or agent.
    subject = models.CharField(max_length=200, blank=True)
    issued_at = models.DateTimeField()
    ttl_seconds = models.PositiveIntegerField()
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "lease_ref"],
                condition=~Q(lease_ref=""),
                name="lease_ref_unique_per_issuer",
            ),
        ]
        indexes = [
            # An issuer's recent leases, newest first (the path page, the API).
            models.Index(fields=["issuer", "-issued_at"], name="lease_by_issuer"),
            # The retention purge: oldest recorded first.
            models.Index(fields=["recorded_at"], name="lease_recorded"),
        ]

    def __str__(self) -> str:
        return f"lease {self.lease_ref or self.pk} of {self.issuer_id}"


class LeaseHour(models.Model):
    """The leases of one issuer issued in one hour, folded when they are recorded."""

    issuer = models.ForeignKey(
        AccessPath, on_delete=models.PROTECT, related_name="lease_hours", db_index=False
    )
    hour = models.DateTimeField()  # the start of the hour (UTC)
    leases = models.PositiveIntegerField(default=0)
    total_seconds = models.BigIntegerField(default=0)
    max_seconds = models.PositiveIntegerField(default=0)
    # Lease lengths by bucket (services.leases.BUCKETS: upper bound in seconds -> count):
    # the typical lease is the bucket holding the median.
    buckets = models.JSONField(default=dict)
    last_issued_at = models.DateTimeField()
    last_subject = models.CharField(max_length=200, blank=True)
    # Who recorded the issuances (token or person label -> count), capped in size.
    recorded_by = models.JSONField(default=dict)

    class Meta:
        ordering = ["-hour"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "hour"], name="lease_hour_once"),
        ]

    def __str__(self) -> str:
        return f"{self.leases} leases of {self.issuer_id} at {self.hour:%Y-%m-%d %H:00}"
