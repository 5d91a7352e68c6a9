"""Admin pages for what running the registry keeps (stored files, background exports,
job ticks, the dashboard's tally): read-only, for operators looking into a stuck import
or export or a figure. A file's bytes are never shown: an upload may hold anything its
author pasted."""

from __future__ import annotations

from django.contrib import admin

from registry.models import (
    ExportRun,
    FileChunk,
    JobTick,
    PathFacts,
    PathTally,
    StoredFile,
    TallyVersion,
)
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


@admin.register(PathFacts)
class PathFactsAdmin(ReadOnlyAdmin):
    # One row per path: ReadOnlyAdmin never counts the table; no filter scans it.
    list_display = ["path", "status", "team_key", "flags", "quality", "valid_until"]


@admin.register(PathTally)
class PathTallyAdmin(ReadOnlyAdmin):
    # No list_filter: status has no fixed choices, a filter would scan the table.
    list_display = ["team_key", "status", "paths", "violating", "expiring", "not_seen"]


@admin.register(TallyVersion)
class TallyVersionAdmin(ReadOnlyAdmin):
    list_display = ["name", "fingerprint", "rebuilt_at"]
