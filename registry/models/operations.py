"""What running the registry needs to keep: files shared by web and workers, background
exports, and when each periodic job last ran (health, readiness and metrics read it)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class StoredFile(models.Model):
    """A file kept in the database, so that every web and worker process reads the same
    bytes whatever its filesystem (an import's upload, an export's result). The bytes
    are `FileChunk` rows; purging a file after its retention deletes the chunks and
    keeps this record, stamped `purged_at`."""

    class Purpose(models.TextChoices):
        IMPORT_UPLOAD = "import_upload", "Import upload"
        EXPORT = "export", "Export"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    # Set once every chunk is written: a file without it was cut short.
    completed_at = models.DateTimeField(null=True, blank=True)
    # When its bytes may be deleted (the retention sweep); null keeps them.
    expires_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The retention sweep: files whose bytes are still kept and have expired.
            models.Index(
                fields=["expires_at"], condition=Q(purged_at__isnull=True), name="storedfile_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.name or self.pk}"


class FileChunk(models.Model):
    """One piece of a stored file, in order."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "index"], name="filechunk_once_per_index"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.file_id}"


class ExportRun(models.Model):
    """An export too large to stream within a request, written by a worker; the person
    downloads the finished file from its page."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fmt = models.CharField(max_length=4, choices=Format.choices)
    # The inventory filter it exports (the query string's parameters).
    query = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    total = models.PositiveIntegerField(default=0)
    written = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    file = models.ForeignKey(
        StoredFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved forward while a worker writes; a running export whose heartbeat stopped had
    # its worker die, and is retried or failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"], condition=Q(status="running"), name="exportrun_running"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fmt} export {self.pk} ({self.status})"


class JobTick(models.Model):
    """When a periodic job (sweep, deliver, imports, beat, anchor) last started,
    finished and succeeded, and what it last said: /readyz and the metrics read it."""

    name = models.CharField(max_length=32, primary_key=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name
