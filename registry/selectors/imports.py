"""Import runs and the import queue."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from registry.models import ImportRun
from registry.rules.actors import Actor


def queued_imports(*, limit: int = 10) -> list[str]:
    """Imports still waiting for a worker, oldest first."""
    queued = ImportRun.objects.filter(status=ImportRun.Status.QUEUED).order_by("created_at")
    return [str(pk) for pk in queued.values_list("pk", flat=True)[:limit]]


def import_run(*, run_id: uuid.UUID | str) -> ImportRun | None:
    """One run for its page, with its steward and its upload's retention."""
    return ImportRun.objects.select_related("steward_team", "upload").filter(pk=run_id).first()


def import_runs(*, limit: int = 50) -> QuerySet[ImportRun]:
    return ImportRun.objects.select_related("steward_team").order_by("-created_at")[:limit]


def visible_import_runs(*, actor: Actor) -> QuerySet[ImportRun]:
    """Imports write across teams: only security (and the system) follow them."""
    qs = ImportRun.objects.select_related("steward_team").order_by("-created_at")
    return qs if actor.sees_everything else qs.none()
