"""Access paths: the registry's central record."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from registry.models.teams import Team

if TYPE_CHECKING:
    from registry.models.requests import ChangeRequest
    from registry.rules.control_points import Authority


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

    class IssuerKind(models.TextChoices):
        """What issues just-in-time credentials under this path (issue 18): the path is
        the issuing role, registered once; each issuance is a Lease, never a path."""

        VAULT_ROLE = "vault_role", "Vault role"
        STS_ROLE = "sts_role", "STS role (OIDC federation)"
        GITHUB_APP = "github_app", "GitHub App installation"
        SPIFFE = "spiffe", "SPIFFE registration"
        BROKER = "broker", "Credential broker"
        OTHER = "other", "Other issuer"

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
    # No index of their own: path_owner_review and path_steward_state lead with them.
    owner_team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_paths",
        db_index=False,
    )
    steward_team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stewarded_paths",
        db_index=False,
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
    # registry.rules.posture.derived_facts) so the dashboard tests a boolean, not a regex.
    broad_scope = models.BooleanField(default=False, editable=False)
    several_consumers = models.BooleanField(default=False, editable=False)
    # A person can sign in with it (an IAM user with a console password): NHI10.
    interactive_login = models.BooleanField(default=False)

    # NHI4: multi-factor sign-in as the source reports it (the AWS credential report's
    # mfa_active); null when no source says.
    mfa_active = models.BooleanField(null=True, blank=True)
    # NHI2: when a credential was last pasted into this path's record and refused (the
    # value itself is never kept). A rotation after it clears the signal.
    secret_refused_at = models.DateTimeField(null=True, blank=True, editable=False)

    # issuer of just-in-time credentials (blank: not an issuer). Its leases are Lease
    # rows under it; the longest allowed is max_lease_seconds, and the last time a
    # longer one was recorded is lease_overrun_at (posture: lease over the maximum).
    issuer_kind = models.CharField(max_length=16, choices=IssuerKind.choices, blank=True)
    max_lease_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    lease_overrun_at = models.DateTimeField(null=True, blank=True, editable=False)

    # provenance of pipeline-made and AI-assisted access: the change that created it
    # (pull request or commit), who merged it and in which team, and the tool or agent
    # that proposed it. Required when created_via is pipeline or ai_agent.
    change_url = models.URLField(max_length=500, blank=True)
    merged_by = models.CharField(max_length=200, blank=True)
    merged_by_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    proposed_by = models.CharField(max_length=200, blank=True)

    # inventory sync: which source last reported it, and when a full sync missed it
    import_source = models.CharField(max_length=32, blank=True, editable=False)
    last_import_run = models.ForeignKey(
        "ImportRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        editable=False, db_index=False,
    )  # fmt: skip
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    not_seen_since = models.DateTimeField(null=True, blank=True, editable=False)
    # For an unowned path: the team the owner rules point at (registry.rules.owner_suggestions) and
    # why. Only a suggestion: a person of that team confirms it by claiming.
    suggested_owner = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        editable=False, db_index=False,
    )  # fmt: skip
    suggestion_reason = models.CharField(max_length=200, blank=True, editable=False)
    requires_human_signoff = models.BooleanField(default=False)
    revocation_plan = models.TextField(blank=True)
    # How to restore service if revoking breaks something (re-issue, roll back a
    # deploy): what a responder needs beside the revocation plan during an incident.
    rollback_plan = models.TextField(blank=True)

    # authority: who approved this access (person, team, when, ticket) and which teams
    # may revoke it besides the owner and steward. Required to register an owned high or
    # critical path (services.paths); posture NHI-AUTH flags live ones without it.
    approved_by = models.CharField(max_length=200, blank=True)
    approved_by_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_ticket_url = models.URLField(max_length=500, blank=True)
    revoker_teams = models.ManyToManyField(Team, blank=True, related_name="revocable_paths")
    # Control-point owners, per path. Null: the system's default (SystemControlPolicy)
    # applies; registry.rules.control_points resolves the effective owner. The platform
    # runtime's owner is the steward team.
    iam_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    pam_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    secops_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    # downstream revocation: a revoked or expired path is only gone once someone
    # confirms the credential is disabled where it lives (registry.rules.status AWAITING_SOURCE).
    source_disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    source_disabled_by = models.CharField(max_length=200, blank=True, editable=False)
    # A full sync still listed the credential after it was revoked or expired here.
    source_still_listed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # lifecycle
    expires_at = models.DateTimeField(null=True, blank=True)
    # Set only by an approved "no_expiry" PolicyException: the one way an owned path may
    # have no expiry (see the path_owned_has_expiry constraint).
    expiry_waiver = models.ForeignKey(
        "PolicyException",
        null=True,
        blank=True,
        db_index=False,
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

    # A digest of the fields an import writes: an unchanged row is recognised in the
    # database and not rewritten (registry/services/imports.py).
    content_hash = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    # Not columns: set on loaded rows by the code that reads or changes them.
    # registry.rules.control_points.load_authority (read with authority_of):
    authority: Authority
    # registry.services.change_requests: the request an edit's held fields wait in.
    held_change: ChangeRequest | None
    # registry.services.paths: the request-time verdict (rules/enforcement.Verdict) of the
    # registration or edit that returned the path.
    verdict: Any

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
            # The inventory's other sorts (registry.selectors.pagination.SORTS), keyset-paginated.
            models.Index(fields=["name", "id"], name="path_name_cursor"),
            models.Index(fields=["next_review_at", "id"], name="path_review_cursor"),
            models.Index(fields=["expires_at", "id"], name="path_expiry_cursor"),
            models.Index(fields=["updated_at", "id"], name="path_updated_cursor"),
            # The security queue of revocations not confirmed at the source.
            models.Index(
                fields=["state_changed_at"],
                condition=Q(state__in=["revoked", "expired"], source_disabled_at__isnull=True),
                name="path_awaiting_source",
            ),
            # ... and of retired paths a full sync still lists (registry.selectors.source_queue).
            models.Index(
                fields=["source_still_listed_at"],
                condition=Q(source_still_listed_at__isnull=False),
                name="path_still_listed",
            ),
            # The sweep's unowned notices, by how long a path has waited for an owner.
            models.Index(
                fields=["state_changed_at"], condition=Q(state="unowned"), name="path_unowned_since"
            ),
            # Mostly-empty references: indexed only where set (a million paths insert and
            # rewrite no entry for the nulls; rows are never deleted, so PROTECT never looks).
            *(
                models.Index(
                    fields=[column],
                    condition=Q(**{f"{column}__isnull": False}),
                    name=f"path_{column}",
                )
                for column in (
                    "last_import_run",
                    "suggested_owner",
                    "approved_by_team",
                    "iam_team",
                    "pam_team",
                    "secops_team",
                    "expiry_waiver",
                    "merged_by_team",
                )
            ),
            # The issuers (a few among a million paths), for the inventory's issuer filter.
            models.Index(fields=["issuer_kind"], condition=~Q(issuer_kind=""), name="path_issuer"),
            # Posture NHI8/NHI9: one external id seen in several environments or systems.
            models.Index(
                fields=["external_id"], condition=~Q(external_id=""), name="path_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.system})"
