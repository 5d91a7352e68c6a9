"""The notification outbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from registry.models.paths import AccessPath
from registry.models.teams import Team


class Notification(models.Model):
    """The outbox: one row per (recipient, channel, path, reason, cycle, stage).

    Written in the same transaction as the state it reports and delivered later; the
    unique key is the last defence against a reminder sent twice.
    """

    class Audience(models.TextChoices):
        MEMBERS = "members", "Team members"
        LEADS = "leads", "Team leads"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        WEBHOOK = "webhook", "Webhook"

    class Reason(models.TextChoices):
        """Why a team is told. The sweep's reasons (rules/recipients.py says who hears
        each, rules/status.py when), the requests' and the events'."""

        REVIEW_REMINDER = "review_reminder", "Review reminder"
        EXPIRY_REMINDER = "expiry_reminder", "Expiry reminder"
        REVIEW_OVERDUE = "review_overdue", "Review overdue"
        LAPSED = "lapsed", "Lapsed"
        OWNER_UNACCOUNTABLE = "owner_unaccountable", "Owning team unaccountable"
        UNOWNED = "unowned", "Unowned"
        UNCLAIMED = "unclaimed", "Still unclaimed"
        EXPIRED = "expired", "Expired"
        CLAIM_REQUESTED = "claim_requested", "Claim requested"
        CLAIM_WAITING = "claim_waiting", "Claim waiting"
        TRANSFER_REQUESTED = "transfer_requested", "Transfer requested"
        TRANSFER_WAITING = "transfer_waiting", "Transfer waiting"
        CHANGE_REQUEST = "change_request", "Change waiting for approval"
        SOURCE_UNCONFIRMED = "source_unconfirmed", "Not confirmed disabled at the source"
        SOURCE_STILL_LISTED = "source_still_listed", "Still listed at the source"
        TRIAGE = "triage", "Looked up in triage"
        INCIDENT = "incident", "Leak incident"
        CHANNEL_TEST = "channel_test", "Channel test"
        SIGNOFF_REQUEST = "signoff_request", "Agent action waiting for sign-off"
        # Lifecycle events, to event webhooks (notifications/events.py).
        EVENT_REVOKED = "access_path.revoked", "Event: revoked"
        EVENT_EXPIRED = "access_path.expired", "Event: expired"
        EVENT_LAPSED = "access_path.lapsed", "Event: lapsed"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="notifications")
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.MEMBERS)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="notifications")
    reason = models.CharField(max_length=48, choices=Reason.choices)
    # What the message says, fixed when it is queued (an event must describe the moment
    # it happened, not the path as it is when delivery finally succeeds).
    payload = models.JSONField(default=dict, blank=True)
    # The due date this reminder concerns: a new attestation moves the due date and so
    # starts a new cycle, and reminders of the old one can never fire again.
    cycle = models.DateTimeField()
    stage = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # The fencing token of the delivery run holding the row: set anew by each lease and
    # checked when a run renews its lease or marks the row sent, so a run whose lease
    # ran out can neither send nor mark what another run has since taken.
    lease_token = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "audience", "channel", "path", "reason", "cycle", "stage"],
                name="notification_once_per_cycle_and_stage",
            ),
        ]
        indexes = [
            # The delivery run picks pending rows whose next attempt is due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_due",
            ),
            models.Index(fields=["path", "-created_at"], name="notification_by_path"),
            # Security's dead letters and the metrics' dead count (few rows, often read).
            models.Index(
                fields=["created_at"], condition=Q(status="dead"), name="notification_dead"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} -> {self.team}/{self.audience} via {self.channel}"
