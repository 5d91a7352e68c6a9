"""SCIM 2.0 provisioning: the tokens an identity provider uses, and what the registry
keeps about the users and groups it provisions (their external ids, whether SCIM
deleted them). People stay Django users and groups stay teams; these rows only carry
what SCIM adds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from registry.models.paths import AccessPath
from registry.models.teams import Team


class ScimToken(models.Model):
    """The bearer token of one identity provider's SCIM client. Only a hash is stored;
    the token is shown once. Like an API token it is registered as an access path (kind
    api_token, system nhi-registry) owned by the team that issued it, so its review,
    expiry and revocation follow the registry's own rules. A separate model from
    ApiToken: a SCIM token manages every team's membership and nothing else, so it can
    never be presented to the REST API, nor an API token to SCIM."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    access_path = models.OneToOneField(
        AccessPath, on_delete=models.PROTECT, related_name="scim_token"
    )
    created_by_label = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="scim_token_expires"
            ),
        ]

    def __str__(self) -> str:
        return f"SCIM {self.name} ({self.prefix}…)"


class ScimUser(models.Model):
    """A person as the identity provider knows them. `deleted_at`: SCIM deleted the
    user; the person stays (deactivated, their memberships ended) and SCIM answers 404."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scim"
    )
    external_id = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The `externalId eq` filter Entra ID and Okta send before every create.
            models.Index(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="scim_user_by_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"SCIM user {self.user_id}"


class ScimGroup(models.Model):
    """A team as a SCIM group. `deactivated_by_scim`: SCIM emptied it (its paths lapsed);
    members pushed again reactivate it, while a team security deactivated stays so.
    `deleted_at`: SCIM deleted the group; the team stays, inactive, and SCIM answers 404."""

    team = models.OneToOneField(Team, on_delete=models.PROTECT, related_name="scim")
    external_id = models.CharField(max_length=255, blank=True)
    deactivated_by_scim = models.BooleanField(default=False)
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="scim_group_by_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"SCIM group {self.team_id}"
