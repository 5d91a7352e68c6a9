"""API tokens and people's saved filters."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from registry.models.paths import AccessPath
from registry.models.teams import Team


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
    # The person who issued it: answerable for what a team token asks for (four eyes:
    # they may not decide a request their token made).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
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
