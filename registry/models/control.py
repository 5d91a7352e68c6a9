"""Per-system defaults for a path's control-point owners."""

from __future__ import annotations

from django.db import models

from registry.models.teams import Team


class SystemControlPolicy(models.Model):
    """Who owns each control point for every path of one system (e.g. every `aws` path:
    IAM team `cloud-iam`). A path's own value overrides the default; the platform
    runtime's owner is always the path's steward. Changed only through
    services.control_points, audited."""

    system = models.CharField(max_length=64, unique=True)
    iam_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pam_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    secops_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The platform offers workload identity (OIDC federation, IRSA, Workload Identity
    # Federation, SPIFFE): a static or long-lived key there is posture NHI6.
    offers_workload_identity = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["system"]
        verbose_name_plural = "system control policies"

    def __str__(self) -> str:
        return f"control points for {self.system}"
