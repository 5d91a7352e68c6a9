"""The registry's records. Rows are never deleted; every change goes through services.

Models state their own rules (named constraints, partial indexes with the query that
needs them); services enforce who may change what and write the audit event.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
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


class Tag(models.Model):
    """A free label on paths ("pci", "soc2-scope"), for filtering and reports."""

    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class AccessPath(models.Model):
    """One automated access path: who owns it, why it exists and when it should go away."""

    class Kind(models.TextChoices):
        SERVICE_ACCOUNT = "service_account", "Service account"
        API_TOKEN = "api_token", "API token"
        CI_SECRET = "ci_secret", "CI/CD secret"
        WORKLOAD_IDENTITY = "workload_identity", "Workload identity"
        SSH_KEY = "ssh_key", "SSH / deploy key"
        OAUTH_CLIENT = "oauth_client", "OAuth client"
        CERTIFICATE = "certificate", "Certificate"
        AGENT_CREDENTIAL = "agent_credential", "AI-agent credential"
        OTHER = "other", "Other"

    class Environment(models.TextChoices):
        PROD = "prod", "Production"
        STAGING = "staging", "Staging"
        DEV = "dev", "Development"
        OTHER = "other", "Other"

    class CreatedVia(models.TextChoices):
        HUMAN = "human", "Human"
        PIPELINE = "pipeline", "Pipeline"
        IAC = "iac", "Infrastructure as code"
        AI_AGENT = "ai_agent", "AI agent"
        DISCOVERY = "discovery", "Discovery"
        UNKNOWN = "unknown", "Unknown"

    class RiskTier(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class CredentialLifetime(models.TextChoices):
        EPHEMERAL = "ephemeral", "Ephemeral"
        SHORT_LIVED = "short_lived", "Short-lived"
        LONG_LIVED = "long_lived", "Long-lived"
        STATIC = "static", "Static"

    class State(models.TextChoices):
        """Stored lifecycle state. Time-derived statuses (review_due, overdue, lapsed and
        expiry before the sweep has run) are computed at read time by selectors."""

        UNOWNED = "unowned", "Unowned"
        CLAIM_PENDING = "claim_pending", "Claim pending"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    # identity
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    system = models.CharField(max_length=64)
    external_id = models.CharField(max_length=500, blank=True)
    environment = models.CharField(max_length=8, choices=Environment.choices)

    # accountability
    owner_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_paths"
    )
    steward_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="stewarded_paths"
    )
    created_via = models.CharField(
        max_length=16, choices=CreatedVia.choices, default=CreatedVia.UNKNOWN
    )
    created_by_ref = models.CharField(max_length=300, blank=True)
    consumers = models.TextField(blank=True)

    # traceability
    ticket_url = models.URLField(max_length=500, blank=True)
    artifact_ref = models.CharField(max_length=500, blank=True)
    justification = models.TextField(blank=True)

    # risk
    privilege_scope = models.TextField(blank=True)
    risk_tier = models.CharField(max_length=8, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    data_classification = models.CharField(max_length=64, blank=True)
    credential_lifetime = models.CharField(
        max_length=16, choices=CredentialLifetime.choices, default=CredentialLifetime.LONG_LIVED
    )
    rotation_days = models.PositiveIntegerField(null=True, blank=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # When a long-lived or static credential is due for rotation (last rotation, or
    # creation, plus rotation_days or the policy's default); null for short-lived ones.
    # Kept by the services so the NHI7 posture rule is an indexed date comparison.
    rotation_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Posture facts that depend only on this row's text, kept by the services (see
    # registry.posture.derived_facts) so the dashboard tests a boolean, not a regex.
    broad_scope = models.BooleanField(default=False, editable=False)
    several_consumers = models.BooleanField(default=False, editable=False)
    # A person can sign in with it (an IAM user with a console password): NHI10.
    interactive_login = models.BooleanField(default=False)

    # inventory sync: which source last reported it, and when a full sync missed it
    import_source = models.CharField(max_length=32, blank=True, editable=False)
    last_import_run = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        editable=False,
    )  # fmt: skip
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    not_seen_since = models.DateTimeField(null=True, blank=True, editable=False)
    # For an unowned path: the team the owner rules point at (registry.suggestions) and
    # why. Only a suggestion: a person of that team confirms it by claiming.
    suggested_owner = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        editable=False,
    )  # fmt: skip
    suggestion_reason = models.CharField(max_length=200, blank=True, editable=False)
    requires_human_signoff = models.BooleanField(default=False)
    revocation_plan = models.TextField(blank=True)

    # lifecycle
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set only by an approved "no_expiry" PolicyException: the one way an owned path may
    # have no expiry (see the path_owned_has_expiry constraint).
    expiry_waiver = models.ForeignKey(
        "PolicyException",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Blank in forms: the services fill it from the risk tier when it is not given.
    review_interval_days = models.PositiveIntegerField(
        blank=True, validators=[MinValueValidator(1)]
    )
    last_attested_at = models.DateTimeField(null=True, blank=True)
    next_review_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNOWNED)
    state_changed_at = models.DateTimeField()
    escalation_stage = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    tags = models.ManyToManyField(Tag, blank=True, related_name="paths")

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "external_id"],
                condition=~Q(external_id=""),
                name="path_external_id_unique_per_system",
            ),
            models.CheckConstraint(
                condition=Q(owner_team__isnull=True)
                | Q(expires_at__isnull=False)
                | Q(expiry_waiver__isnull=False),
                name="path_owned_has_expiry",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["unowned", "claim_pending"]) | Q(owner_team__isnull=True),
                name="path_unowned_states_have_no_owner",
            ),
            models.CheckConstraint(
                condition=~Q(state="active")
                | (Q(owner_team__isnull=False) & Q(next_review_at__isnull=False)),
                name="path_active_has_owner_and_review_date",
            ),
            models.CheckConstraint(
                condition=Q(review_interval_days__gte=1), name="path_review_interval_positive"
            ),
            models.CheckConstraint(
                condition=Q(escalation_stage__lte=4), name="path_escalation_stage_in_ladder"
            ),
        ]
        indexes = [
            # Status filters (selectors.status_q): owned live paths by review date
            # (review_due / overdue / lapsed) ...
            models.Index(fields=["state", "next_review_at"], name="path_state_review"),
            # ... and by expiry (expired before the sweep, "expiring in 30 days").
            models.Index(fields=["state", "expires_at"], name="path_state_expiry"),
            # A team's queue: its paths ordered by when their review is due.
            models.Index(fields=["owner_team", "next_review_at", "id"], name="path_owner_review"),
            models.Index(fields=["steward_team", "state"], name="path_steward_state"),
            # Cursor pagination of the inventory in creation order.
            models.Index(fields=["created_at", "id"], name="path_created_cursor"),
            # The inventory's other sorts (registry.pagination.SORTS), keyset-paginated.
            models.Index(fields=["name", "id"], name="path_name_cursor"),
            models.Index(fields=["next_review_at", "id"], name="path_review_cursor"),
            models.Index(fields=["expires_at", "id"], name="path_expiry_cursor"),
            models.Index(fields=["updated_at", "id"], name="path_updated_cursor"),
            # Posture NHI8/NHI9: one external id seen in several environments or systems.
            models.Index(
                fields=["external_id"], condition=~Q(external_id=""), name="path_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.system})"


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
    requested_by_label = models.CharField(max_length=200)
    reason = models.TextField()
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

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="notifications")
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.MEMBERS)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="notifications")
    reason = models.CharField(max_length=48)
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
        ]

    def __str__(self) -> str:
        return f"{self.reason} -> {self.team}/{self.audience} via {self.channel}"


class AuditChainHead(models.Model):
    """The one row that serialises appends to the audit chain.

    Locking it (select_for_update) inside the writing transaction makes the chain's
    sequence and prev_hash exact even with many concurrent writers.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="audit_chain_head_singleton"),
        ]

    def __str__(self) -> str:
        return f"audit chain head #{self.last_seq}"


class AuditEvent(models.Model):
    """Append-only, hash-chained record of every change.

    `seq` is gap-free (allocated under the chain-head lock), so a deleted event shows
    as a gap and an edited one as a hash mismatch. The hash covers salted commitments of
    the values (`registry/audit/chain.py`), so a value that turns out to be a secret can
    be purged: it becomes "[purged]" and its commitment moves to `purged`. On PostgreSQL
    triggers refuse DELETE, TRUNCATE and every UPDATE except such a purge.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        TOKEN = "token", "API token"
        SYSTEM = "system", "System"

    seq = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    actor_type = models.CharField(max_length=8, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=True,
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    path = models.ForeignKey(
        AccessPath,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Random per event: the commitments' salt (hex).
    salt = models.CharField(max_length=32)
    # {slot: {"commitment": hex, "by_seq": the audit.value_purged event}} per purged value.
    purged = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # A path's timeline (path detail page, audit-events?path=).
            models.Index(fields=["path", "seq"], name="audit_by_path"),
            models.Index(fields=["object_type", "object_id"], name="audit_by_object"),
            # The dashboard's charts and the inventory's "event in this week" filter.
            models.Index(fields=["action", "created_at"], name="audit_by_action_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class ApiToken(models.Model):
    """A credential for the REST API. Only a hash is stored; the token is shown once.

    A team token is an integration acting for one team; a personal token acts as its
    user. Each token is itself registered as an access path (kind api_token, system
    nhi-registry) owned by its team, so the registry governs its own credentials: the
    same reminders, the same expiry, and revoking that path disables the token.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    name = models.CharField(max_length=100)
    # The first characters of the token, shown in lists so people can tell tokens apart
    # (and match a leaked one) without the registry keeping the secret.
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="api_tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_tokens",
    )
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    access_path = models.OneToOneField(
        AccessPath, on_delete=models.PROTECT, related_name="api_token"
    )
    created_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=False, user__isnull=True)
                | Q(team__isnull=True, user__isnull=False),
                name="api_token_for_a_team_or_a_person",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="api_token_expires"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_team_token(self) -> bool:
        return self.team_id is not None


class SavedFilter(models.Model):
    """A person's named inventory filter (the query string of the inventory page).
    Removing one archives it; the row stays, like every record here."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="saved_filters"
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000)
    created_at = models.DateTimeField()
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=Q(archived_at__isnull=True),
                name="saved_filter_name_unique_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.name}"


class ImportRun(models.Model):
    """One run of an import: what it read, what it did, and how far it has got (the
    browser's progress page reads `processed` of `total`). Kept whatever the outcome;
    a refused or dry run changed nothing else."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        APPLIED = "applied", "Applied"
        DRY_RUN = "dry_run", "Dry run (nothing changed)"
        REFUSED = "refused", "Refused (nothing changed)"
        FAILED = "failed", "Failed (nothing changed)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source_format = models.CharField(max_length=32)
    system = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    steward_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dry_run = models.BooleanField(default=False)
    partial = models.BooleanField(default=False)
    full_sync = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    # [{"line": n, "external_id": "...", "errors": ["..."]}], the first 1,000.
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_format} import {self.pk} ({self.status})"


class CredentialIdentifier(models.Model):
    """A name of a credential besides its path's `external_id`: a key id, a principal, a
    client id or a fingerprint (SHA-256 of the value, computed by whoever holds it; the
    registry never sees the value). Triage looks a leaked credential up by any of them.
    Rows are never deleted: removing one from its path sets `retired_at`.

    A key id or a fingerprint names exactly one credential: unique among live records.
    A principal or client id names the holder, which may have several credentials (two
    keys of one service account, the same service account name in two clusters): unique
    per path, and a lookup may find several paths."""

    # The kinds that name one credential (unique across paths).
    UNIQUE_KINDS = ("key_id", "fingerprint")

    class Kind(models.TextChoices):
        KEY_ID = "key_id", "Key id"
        PRINCIPAL = "principal", "Principal"
        FINGERPRINT = "fingerprint", "Fingerprint (SHA-256)"
        CLIENT_ID = "client_id", "Client id"

    path = models.ForeignKey(AccessPath, on_delete=models.PROTECT, related_name="identifiers")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=500)
    source = models.CharField(max_length=48, default="manual")
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "value", "id"]
        constraints = [
            # One live record per key id / fingerprint: it names one credential.
            models.UniqueConstraint(
                fields=["kind", "value"],
                condition=Q(retired_at__isnull=True, kind__in=["key_id", "fingerprint"]),
                name="identifier_unique_per_kind",
            ),
            models.UniqueConstraint(
                fields=["path", "kind", "value"],
                condition=Q(retired_at__isnull=True),
                name="identifier_once_per_path",
            ),
        ]
        indexes = [
            # Triage: look a value up whatever its kind.
            models.Index(fields=["value"], name="identifier_value"),
            # A path's identifiers (path page, API prefetch).
            models.Index(fields=["path", "kind"], name="identifier_by_path"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"
