"""Queued imports: an upload kept in the database, an import run queued for a worker, the
worker claiming and running it (with a heartbeat, and progress for the waiting page).
The import itself is services/imports.paths_import; a run whose worker died is taken
back by services/import_recovery.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.dispatch import Signal

from registry.importers.base import ImportRow
from registry.importers.formats import FORMATS, READERS
from registry.models import ImportRun, StoredFile, Team
from registry.rules import errors, permissions
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, Unavailable
from registry.rules.imports import UPLOAD_GONE, UPLOADED_BEFORE_UPGRADE
from registry.rules.owner_suggestions import (
    OwnerRulesError,
    load_rules,
)
from registry.runtime.stored_files import FileGone, FileTooLarge, open_stored, store_file
from registry.services._common import (
    refuse_if,
    resolve_now,
)
from registry.services.import_heartbeat import ImportHeartbeat
from registry.services.imports import (
    UPLOAD_CHUNK,
    ImportReport,
    Progress,
    finish_run,
    paths_import,
)

# Sent after an upload's transaction commits; workers.apps enqueues the import task.
import_queued = Signal()


@dataclass(frozen=True)
class ImportOptions:
    """What an import reads and how: the choices the upload page, the API and
    `manage.py import_paths` pass on as one thing."""

    source_format: str
    system: str = ""
    steward: Team | None = None
    dry_run: bool = False
    partial: bool = False
    full_sync: bool = False

    @classmethod
    def from_input(cls, values: Mapping[str, Any]) -> ImportOptions:
        """From a validated upload: the page's form or the API's serializer (format,
        system, steward_team, dry_run, partial, full_sync)."""
        return cls(
            source_format=values["format"],
            system=values.get("system") or "",
            steward=values.get("steward_team"),
            dry_run=bool(values.get("dry_run")),
            partial=bool(values.get("partial")),
            full_sync=bool(values.get("full_sync")),
        )

    @classmethod
    def from_run(cls, run: ImportRun) -> ImportOptions:
        """What a queued run was asked to do."""
        return cls(
            source_format=run.source_format, system=run.system, steward=run.steward_team,
            dry_run=run.dry_run, partial=run.partial, full_sync=run.full_sync,
        )  # fmt: skip

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `import_queue` and `paths_import`."""
        return {
            "source_format": self.source_format, "system": self.system,
            "steward": self.steward, "dry_run": self.dry_run, "partial": self.partial,
            "full_sync": self.full_sync,
        }  # fmt: skip


def import_upload(
    *,
    actor: Actor,
    upload: UploadedFile,
    options: ImportOptions,
    now: dt.datetime | None = None,
) -> ImportRun:
    """Queue an uploaded file's import (the upload page and the API): `import_queue`
    with the file read in UPLOAD_CHUNK pieces."""
    return import_queue(
        actor=actor,
        chunks=upload.chunks(UPLOAD_CHUNK),
        file_name=upload.name or "",
        now=now,
        **options.as_kwargs(),
    )


def import_queue(
    *,
    actor: Actor,
    chunks: Iterable[bytes],
    file_name: str,
    source_format: str,
    system: str = "",
    steward: Team | None = None,
    dry_run: bool = False,
    partial: bool = False,
    full_sync: bool = False,
    now: dt.datetime | None = None,
) -> ImportRun:
    """Keep an uploaded file and queue its import for a worker (the browser upload and
    the API). The file goes into the database with its run, in one transaction: every
    worker can read it whatever its filesystem, and a refused upload keeps nothing. The
    worker is told after the commit (`import_queued`)."""
    now = resolve_now(now)
    refuse_if(permissions.refuse_import(actor))
    if source_format not in FORMATS:
        raise Invalid.single("format", f"Choose one of: {', '.join(FORMATS)}.")
    try:
        load_rules()
    except OwnerRulesError as exc:  # every import would fail: say why now
        raise Unavailable(f"{exc} Nothing was queued.") from exc
    limit = settings.NHI_IMPORT_MAX_BYTES
    with transaction.atomic():
        try:
            # Kept until its run ends; then NHI_IMPORT_UPLOAD_RETENTION_HOURS more.
            upload = store_file(
                purpose=StoredFile.Purpose.IMPORT_UPLOAD, name=file_name, content_type="",
                chunks=chunks, now=now, expires_at=None, limit=limit,
            )  # fmt: skip
        except FileTooLarge as exc:
            raise Invalid.single(
                "file", errors.UPLOAD_TOO_LARGE.format(mb=limit // (1024 * 1024))
            ) from exc
        run = ImportRun.objects.create(
            source_format=source_format, system=system, file_name=file_name[:255],
            steward_team=steward, actor_label=actor.label, started_by=actor.user,
            dry_run=dry_run, partial=partial, full_sync=full_sync, created_at=now,
            upload=upload,
        )  # fmt: skip
        transaction.on_commit(lambda: import_queued.send(sender=ImportRun, run_id=str(run.pk)))
    return run


def import_run_queued(
    *, run_id: str, progress: Progress | None = None, now: dt.datetime | None = None
) -> ImportReport | None:
    """Run a queued import (the worker's task). Claimed by compare-and-set, so a
    redelivered task message never runs an import twice; None when already taken.
    The claim counts an attempt and is the first heartbeat; the heartbeat then beats
    from its own thread until the import ends (services/import_heartbeat.py)."""
    now = resolve_now(now)
    run = _claim(run_id, now)
    if run is None:
        return None
    actor = Actor.for_user(run.started_by) if run.started_by else Actor.system("import")
    heartbeat = ImportHeartbeat(
        run_id=run.pk, attempt=run.attempts, every=settings.NHI_IMPORT_HEARTBEAT_SECONDS
    )
    with heartbeat:  # reading a large file takes a while too: it beats from the claim on
        try:
            rows = _read_upload(run)
        except _Unreadable as exc:
            # A file no reader can take must end its run with a reason, never leave it
            # "running". The reason names the problem, not the content (which may hold
            # anything, a credential included).
            report = ImportReport(run=run)
            report.errors.append({"line": 0, "external_id": "", "errors": [exc.reason]})
            finish_run(run, ImportRun.Status.FAILED, report, now)
            return report
        return paths_import(
            actor=actor, rows=rows, file_name=run.file_name, run=run, progress=progress,
            heartbeat=heartbeat, now=now, **ImportOptions.from_run(run).as_kwargs(),
        )  # fmt: skip


def _claim(run_id: str, now: dt.datetime) -> ImportRun | None:
    """QUEUED -> RUNNING for one more attempt, compare-and-set on the status and the
    attempt count read: of two workers handed the same run, one gets it."""
    run = (
        ImportRun.objects.select_related("started_by", "steward_team", "upload")
        .filter(pk=run_id, status=ImportRun.Status.QUEUED)
        .first()
    )
    if run is None:
        return None
    attempt = run.attempts + 1
    claimed = ImportRun.objects.filter(
        pk=run.pk, status=ImportRun.Status.QUEUED, attempts=run.attempts
    ).update(status=ImportRun.Status.RUNNING, attempts=attempt, heartbeat_at=now)
    if claimed != 1:
        return None
    run.status, run.attempts, run.heartbeat_at = ImportRun.Status.RUNNING, attempt, now
    return run


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_upload(run: ImportRun) -> list[ImportRow]:
    if run.upload is None:
        # Queued before uploads were kept in the database: the file was on the disk of
        # whichever container received it, which this worker may not share.
        raise _Unreadable(UPLOADED_BEFORE_UPGRADE)
    try:
        with open_stored(run.upload) as source:
            return list(READERS[run.source_format](source, system=run.system or None))
    except FileGone as exc:
        raise _Unreadable(UPLOAD_GONE) from exc
    except (RecursionError, ValueError, UnicodeError) as exc:
        raise _Unreadable(_unreadable(exc)) from exc


def _unreadable(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "The file nests deeper than any export does: it was not read."
    if isinstance(exc, UnicodeError):
        return "The file is not UTF-8 text: it was not read."
    return f"The file could not be read ({exc.__class__.__name__}): check it is the chosen format."
