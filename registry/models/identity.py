"""Who people are at the identity provider, which memberships the provider manages, and
which pipelines the registry trusts through their CI platform's OIDC tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models.accounts import ApiToken
from registry.models.teams import Membership, Team


class ExternalIdentity(models.Model):
    """A person's account at an OpenID provider (issuer + subject, the only stable pair:
    emails and names change), linked to their registry user at their first sign-in."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="external_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    last_sign_in_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="one_user_per_provider_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class ProviderMembership(models.Model):
    """Marks a membership as managed by the identity provider: each sign-in sets its
    role from the person's groups and ends it when no group grants the team any more.
    Memberships added by hand (no marker) are left alone until the provider's groups
    grant the same team, which adopts them. The marker stays after the membership ends
    (records are never deleted)."""

    membership = models.OneToOneField(
        Membership, on_delete=models.PROTECT, primary_key=True, related_name="provider"
    )
    issuer = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.membership} (from {self.issuer})"


class CiTrustRule(models.Model):
    """Pipelines whose CI OIDC token (GitHub Actions, GitLab CI) may act as `team`'s
    integration. A token is trusted when it comes from `issuer`, is meant for the
    registry's audience and every claim in `conditions` matches its pattern.

    The rule holds its authority through `grant`: an API token row of the team whose
    secret was thrown away when the rule was made, so nobody can present it; it carries
    the scopes, the expiry and the access path (owned by the team, reviewed and expiring
    like every path), and a pipeline acts exactly as that team token would (same scopes,
    same throttle). Revoking the path or the token, or retiring the rule, stops it."""

    name = models.CharField(max_length=100)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="ci_trust_rules")
    issuer = models.CharField(max_length=300)
    # Claim name -> shell-style pattern (fnmatch, case-sensitive), e.g.
    # {"repository": "acme/payments", "ref": "refs/heads/main", "environment": "prod"}.
    conditions = models.JSONField(default=dict)
    grant = models.OneToOneField(ApiToken, on_delete=models.PROTECT, related_name="ci_trust_rule")
    created_at = models.DateTimeField()
    created_by_label = models.CharField(max_length=200)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__slug", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(retired_at__isnull=True),
                name="ci_trust_rule_name_unique_per_team",
            ),
        ]
        indexes = [
            # ci_trust.ci_authenticate reads the live rules of one issuer per request.
            models.Index(
                fields=["issuer"],
                condition=Q(retired_at__isnull=True),
                name="ci_trust_rule_live_by_issuer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team})"
