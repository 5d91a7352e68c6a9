"""The human sign-off model for agent credentials and high-risk paths (issue 18).

A SignoffPolicy says which actions taken with a path's credential need a person's
decision first: named actions always, and any action crossing a threshold (a scope
outside the allowed ones, a listed data class, more records than the maximum), with
the rollback path if one goes wrong. Agents record their actions (AgentAction); one
above a threshold waits as a sign-off request for a lead of the owning team. Changed
only through services.signoff, audited; never deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models.accounts import ApiToken
from registry.models.paths import AccessPath


class SignoffPolicy(models.Model):
    """One path's sign-off policy. Set and changed only by a person who is a lead of the
    owning team (security for a critical path), never by a token: rules/signoff.py,
    services/signoff.py. A registration may carry the first one."""

    path = models.OneToOneField(AccessPath, on_delete=models.PROTECT, related_name="signoff_policy")
    # Action names that always need a person's decision ("deploy", "delete_data").
    actions = models.JSONField(default=list, blank=True)
    # Scopes an action may use without sign-off; an action using any other needs it.
    # Empty: scopes are not a threshold.
    allowed_scopes = models.JSONField(default=list, blank=True)
    # Data classes an action may not touch without sign-off ("pii", "pci").
    data_classes = models.JSONField(default=list, blank=True)
    # An action touching more records than this needs sign-off; null: no limit.
    max_records = models.PositiveIntegerField(null=True, blank=True)
    # How to undo an action that went wrong: what the person signing off relies on.
    rollback_path = models.TextField()
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by_label = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "sign-off policies"

    def __str__(self) -> str:
        return f"sign-off policy of {self.path_id}"


class AgentAction(models.Model):
    """An action an agent took (or asks to take) with a path's credential, recorded
    against the path's sign-off policy. Above a threshold it is a sign-off request
    routed to the owning team's leads (`signoff` pending until one decides)."""

    class Signoff(models.TextChoices):
        NOT_NEEDED = "not_needed", "Within the policy"
        PENDING = "pending", "Waiting for sign-off"
        APPROVED = "approved", "Signed off"
        REJECTED = "rejected", "Refused"

    path = models.ForeignKey(
        AccessPath, on_delete=models.PROTECT, related_name="agent_actions", db_index=False
    )
    action = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, blank=True)
    data_classes = models.JSONField(default=list, blank=True)
    records = models.PositiveIntegerField(null=True, blank=True)
    summary = models.TextField(blank=True)
    reference = models.URLField(max_length=500, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by_label = models.CharField(max_length=200)
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )  # fmt: skip
    signoff = models.CharField(max_length=16, choices=Signoff.choices)
    # Which thresholds it crossed, in words ("scope admin:org is not allowed").
    signoff_reasons = models.JSONField(default=list, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    decided_by_label = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            # A path's actions, newest first (the path page, the API).
            models.Index(fields=["path", "-recorded_at"], name="agent_action_by_path"),
            # The leads' queue: sign-off requests waiting, oldest first.
            models.Index(
                fields=["recorded_at"], condition=Q(signoff="pending"), name="agent_action_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.path_id} ({self.signoff})"
