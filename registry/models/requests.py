"""Requests and decisions about a path: claims, transfers, attestations, exceptions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from registry.models.paths import AccessPath
from registry.models.teams import Team


class Claim(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="claims")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="claims")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # A claim made by a team token: the person who issued that token, who may not
    # approve it either (permissions.refuse_review).
    requested_through_token_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200)
    reason = models.TextField()
    # What the path's record becomes when the claim is approved (the path's own values
    # when the claimant kept them), so an approved claim leaves a complete record.
    ticket_url = models.URLField(max_length=500, blank=True)
    justification = models.TextField(blank=True)
    proposed_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["path", "team"],
                condition=Q(status="pending"),
                name="one_pending_claim_per_team_and_path",
            ),
        ]
        indexes = [
            # Security's pending-claims queue, oldest first; the sweep's stale-claim reminder.
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="claim_pending_age"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} claims {self.path_id} ({self.status})"


class Transfer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="transfers")
    from_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="transfers_out")
    to_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="transfers_in")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200)
    reason = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["path"],
                condition=Q(status="pending"),
                name="one_pending_transfer_per_path",
            ),
            models.CheckConstraint(
                condition=~Q(from_team=F("to_team")), name="transfer_to_another_team"
            ),
        ]
        indexes = [
            # "Transfers waiting for us" and the sweep's unaccepted-transfer reminder.
            models.Index(
                fields=["to_team", "created_at"],
                condition=Q(status="pending"),
                name="transfer_pending_by_receiver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path_id}: {self.from_team} -> {self.to_team} ({self.status})"


class Attestation(models.Model):
    class Decision(models.TextChoices):
        KEEP = "keep", "Keep"
        REDUCE_SCOPE = "reduce_scope", "Reduce scope"
        REVOKE = "revoke", "Revoke"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="attestations")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="attestations")
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attestations"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    still_needed = models.BooleanField()
    justification_accurate = models.BooleanField()
    least_privilege = models.BooleanField()
    no_human_use = models.BooleanField()
    note = models.TextField(blank=True)
    next_review_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["path", "-created_at"], name="attestation_by_path")]

    def __str__(self) -> str:
        return f"{self.path_id}: {self.decision} by {self.attested_by}"


class PolicyException(models.Model):
    """A documented, time-boxed waiver of one posture rule for one path."""

    class Rule(models.TextChoices):
        NO_EXPIRY = "no_expiry", "Owned path without expiry (NHI7)"
        NHI1_OFFBOARDING = "nhi1_offboarding", "NHI1 improper offboarding"
        NHI5_OVERPRIVILEGED = "nhi5_overprivileged", "NHI5 overprivileged"
        NHI7_LONG_LIVED = "nhi7_long_lived", "NHI7 long-lived secret past rotation"
        NHI8_ENV_ISOLATION = "nhi8_environment_isolation", "NHI8 environment isolation"
        NHI9_REUSE = "nhi9_reuse", "NHI9 reuse"
        NHI10_HUMAN_USE = "nhi10_human_use", "NHI10 human use"
        MISSING_TICKET = "missing_ticket", "Missing ticket"
        WEAK_JUSTIFICATION = "weak_justification", "Weak justification"
        STALE_RECORD = "stale_record", "Stale record"
        MISSING_AUTHORITY = "missing_authority", "Missing approver or control-point owner"
        NHI2_SECRET_LEAKAGE = "nhi2_secret_leakage", "NHI2 secret leakage"
        NHI4_INSECURE_AUTH = "nhi4_insecure_authentication", "NHI4 insecure authentication"
        NHI6_WORKLOAD_IDENTITY = (
            "nhi6_static_not_workload",
            "NHI6 static key, workload identity offered",
        )
        NHI7_AGENT_STATIC = "nhi7_agent_static", "NHI7 static agent credential"
        NHI7_LEASE_OVER_MAX = "nhi7_lease_over_max", "NHI7 lease over the issuer's maximum"
        MISSING_SIGNOFF_POLICY = "missing_signoff_policy", "Missing sign-off policy"
        MISSING_PROVENANCE = "missing_provenance", "Missing provenance"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="exceptions")
    rule = models.CharField(max_length=32, choices=Rule.choices)
    reason = models.TextField()
    expires_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["path", "rule"],
                condition=Q(status="pending"),
                name="one_pending_exception_per_path_and_rule",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="exception_is_time_boxed"
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="exception_pending_age"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} for {self.path_id} ({self.status})"


class ChangeRequest(models.Model):
    """A change to a path that needs a second person before it applies: lowering its
    risk tier, moving its expiry past the policy's window, or lifting lead sign-off,
    when asked by a token, or by someone not a lead on a high or critical path
    (permissions.change_needs_approval). A lead of the owning team approves, security
    for a critical path; approving applies it through the path service."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Approver(models.TextChoices):
        LEAD = "lead", "A lead of the owning team"
        SECURITY = "security", "Security"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="change_requests")
    # The held fields and their new values, as the API takes them (ISO dates).
    changes = models.JSONField()
    reason = models.TextField(blank=True)
    approver = models.CharField(max_length=8, choices=Approver.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_through_token_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["path"], condition=Q(status="pending"), name="one_pending_change_per_path"
            ),
        ]

    def __str__(self) -> str:
        return f"change of {self.path_id} ({self.status})"
