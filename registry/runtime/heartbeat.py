"""A heartbeat from a thread of its own: proof, visible to every other process, that a
long piece of work (an import, an export) is alive while its own thread is busy or
inside a transaction that hides its writes until it commits.

Django gives each thread one connection, so the beat runs on its own connection, in
short autocommit statements with a deadline, every `every` seconds until the work
ends. A subclass says what a beat writes (`write`, fenced by the work's attempt so a
worker wrongly taken for dead cannot keep a newer attempt alive). A beat the database
could not take is only a risk of being taken for dead later, never a reason to stop.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

# The deadline of one beat's statement: a database too slow to take it in this time
# misses a beat, it never holds the thread.
BEAT_STATEMENT_MS = 5000
# How long the work waits for the thread to finish its last beat when it ends.
STOP_WAIT_SECONDS = 10.0


class Heartbeat:
    """`with SomeHeartbeat(...):` beats every `every` seconds until the block ends."""

    def __init__(self, *, name: str, every: float) -> None:
        self.name = name
        self.every = every
        self.beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> int:
        """One beat's update; the number of rows it moved (0: the work was taken back)."""
        raise NotImplementedError

    def taken_back(self) -> None:
        """Called when a beat found the work no longer this attempt's."""

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
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
            # work still ends; the process exiting ends the thread.
            self._thread.join(timeout=STOP_WAIT_SECONDS)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.beat()
        finally:
            connection.close()  # this thread's own connection: never leaked

    def beat(self) -> bool:
        """One beat; False when it was not written (missed, or the work taken back)."""
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"SET LOCAL statement_timeout = {BEAT_STATEMENT_MS}")
                written = self.write()
        except DatabaseError as exc:
            # SQLite has one writer: while the work's transaction writes, no beat can
            # (nor can a recoverer then, so the work is safe); only PostgreSQL's is news.
            level = logging.WARNING if connection.vendor == "postgresql" else logging.DEBUG
            log.log(level, "%s: heartbeat not written: %s", self.name, exc)
            return False
        self.beats += written
        if not written:
            self.taken_back()
        return written == 1
