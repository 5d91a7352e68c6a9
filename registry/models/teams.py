"""Teams and the people in them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Team(models.Model):
    class Kind(models.TextChoices):
        PRODUCT = "product", "Product"
        PLATFORM = "platform", "Platform"
        SECURITY = "security", "Security"
        IAM = "iam", "IAM"
        PAM = "pam", "PAM"
        OTHER = "other", "Other"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRODUCT)
    email = models.EmailField(blank=True)
    # Notification channels: reminders go to the team's email (or its members'), and
    # to Slack / Microsoft Teams incoming webhooks when set. Lifecycle events
    # (access_path.expired, access_path.lapsed) go to the event webhook, signed with
    # its secret per the Standard Webhooks spec.
    slack_webhook_url = models.URLField(blank=True, max_length=500)
    teams_webhook_url = models.URLField(blank=True, max_length=500)
    event_webhook_url = models.URLField(blank=True, max_length=500)
    event_webhook_secret = models.CharField(blank=True, max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=~Q(parent=F("id")), name="team_is_not_its_own_parent"),
        ]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A user's place in a team. Ending a membership sets `ended_at`; the row stays."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEAD = "lead", "Lead"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "team"],
                condition=Q(ended_at__isnull=True),
                name="one_current_membership_per_user_and_team",
            ),
        ]
        indexes = [
            # The status query's "owner team has no members" test (selectors.status) and
            # the permission checks look up current memberships by team and by user.
            models.Index(
                fields=["team", "role"],
                condition=Q(ended_at__isnull=True),
                name="membership_current_by_team",
            ),
            models.Index(
                fields=["user"],
                condition=Q(ended_at__isnull=True),
                name="membership_current_by_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"
