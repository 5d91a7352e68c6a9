"""A running import's heartbeat: proof, visible to every other process, that its worker
is alive, written while the import's own transaction is still open.

The import runs in one transaction (all or nothing), and Django gives each thread one
connection, so anything the import's thread writes stays invisible until it commits.
The heartbeat therefore beats from a thread of its own (runtime/heartbeat.py). It
also carries how many rows are done, so the run's page shows progress from the
database even where web and worker share no cache. It stops when the import ends; a
worker killed outright simply stops beating, and services/import_recovery.py takes the
run back after NHI_IMPORT_STALE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from django.utils import timezone

from registry.models import ImportRun
from registry.runtime.heartbeat import Heartbeat


class ImportHeartbeat(Heartbeat):
    """`with ImportHeartbeat(run_id=…, attempt=…, every=…):` beats every `every` seconds
    for that attempt of the run only (a run taken back and claimed again has a new
    attempt number, so a worker that was wrongly taken for dead cannot keep the new
    attempt's run alive or overwrite its progress)."""

    def __init__(
        self,
        *,
        run_id: uuid.UUID | str,
        attempt: int,
        every: float,
        clock: Callable[[], dt.datetime] = timezone.now,
    ) -> None:
        super().__init__(name=f"import-heartbeat-{run_id}", every=every)
        self.run_id = run_id
        self.attempt = attempt
        self.clock = clock
        self._done: int | None = None

    def record(self, done: int, total: int) -> None:
        """The import's progress callback: the next beat writes `done`."""
        self._done = done

    def write(self) -> int:
        values: dict[str, object] = {"heartbeat_at": self.clock()}
        if self._done is not None:
            values["processed"] = self._done
        return ImportRun.objects.filter(
            pk=self.run_id, status=ImportRun.Status.RUNNING, attempts=self.attempt
        ).update(**values)
