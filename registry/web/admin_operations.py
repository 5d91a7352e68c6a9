"""Admin pages for what running the registry keeps (stored files, background exports,
job ticks): read-only, for operators looking into a stuck import or export. A file's
bytes are never shown: an upload may hold anything its author pasted."""

from __future__ import annotations

from django.contrib import admin

from registry.models import ExportRun, FileChunk, JobTick, StoredFile
from registry.web.admin import ReadOnlyAdmin


@admin.register(StoredFile)
class StoredFileAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "purpose", "name", "size", "completed_at", "expires_at",
                    "purged_at"]  # fmt: skip
    list_filter = ["purpose"]


@admin.register(FileChunk)
class FileChunkAdmin(ReadOnlyAdmin):
    list_display = ["file", "index"]
    exclude = ["data"]


@admin.register(ExportRun)
class ExportRunAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "fmt", "status", "actor_label", "written", "total", "attempts",
                    "finished_at"]  # fmt: skip
    list_filter = ["status", "fmt"]


@admin.register(JobTick)
class JobTickAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_started_at", "last_finished_at", "last_succeeded_at",
                    "last_error"]  # fmt: skip
