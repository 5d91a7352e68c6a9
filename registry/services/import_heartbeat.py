"""A running import's heartbeat: proof, visible to every other process, that its worker
is alive, written while the import's own transaction is still open.

The import runs in one transaction (all or nothing), and Django gives each thread one
connection, so anything the import's thread writes stays invisible until it commits.
The heartbeat therefore beats from a small thread of its own, on its own connection,
in short autocommit statements with a deadline. It also carries how many rows are done,
so the run's page shows progress from the database even where web and worker share no
cache. It stops when the import ends; a worker killed outright simply stops beating,
and services/import_recovery.py takes the run back after NHI_IMPORT_STALE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from types import TracebackType

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from registry.models import ImportRun

log = logging.getLogger(__name__)

# The deadline of one beat's statement: a database too slow to take it in this time
# misses a beat, it never holds the thread.
BEAT_STATEMENT_MS = 5000
# How long the import waits for the thread to finish its last beat when it ends.
STOP_WAIT_SECONDS = 10.0


class ImportHeartbeat:
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
        self.run_id = run_id
        self.attempt = attempt
        self.every = every
        self.clock = clock
        self._done: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def record(self, done: int, total: int) -> None:
        """The import's progress callback: the next beat writes `done`."""
        self._done = done

    def __enter__(self) -> ImportHeartbeat:
        self._thread = threading.Thread(
            target=self._run, name=f"import-heartbeat-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            # A daemon thread: if its last statement is stuck past its own deadline the
            # import still ends; the process exiting ends the thread.
            self._thread.join(timeout=STOP_WAIT_SECONDS)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.beat()
        finally:
            # This thread's own connection (Django's are per thread): never leaked.
            connection.close()

    def beat(self) -> bool:
        """One heartbeat; False when it could not be written (a missed beat is only a
        risk of being taken for dead later, never a reason to stop the import)."""
        values: dict[str, object] = {"heartbeat_at": self.clock()}
        if self._done is not None:
            values["processed"] = self._done
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {BEAT_STATEMENT_MS}")
                written = ImportRun.objects.filter(
                    pk=self.run_id, status=ImportRun.Status.RUNNING, attempts=self.attempt
                ).update(**values)
        except DatabaseError as exc:
            # SQLite has one writer: while the import's transaction writes, no beat can.
            # Nor can a recoverer then, so the run is safe; only PostgreSQL's is news.
            level = logging.WARNING if connection.vendor == "postgresql" else logging.DEBUG
            log.log(level, "import %s: heartbeat not written: %s", self.run_id, exc)
            return False
        self.beats += written
        return written == 1
