"""Import runs and the credential identifiers they record."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models.paths import AccessPath
from registry.models.teams import Team


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
    # Paths retired here that this full sync still listed: [{"id", "name", "external_id"}],
    # the first 1,000 (services/imports.py; the import page lists them).
    still_listed = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The uploaded file, kept in the database so that any worker can read it.
    upload = models.ForeignKey(
        "registry.StoredFile", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Moved forward while a worker runs the import; a running import whose heartbeat
    # stopped had its worker die, and is retried or failed with a reason.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"], condition=Q(status="running"), name="importrun_running"
            ),
        ]

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
