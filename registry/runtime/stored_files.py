"""Files kept in the database, so that every web and worker process reads the same bytes.

A deployment's web and worker containers do not share a filesystem (the shipped
docker-compose gives each its own), but they share the database. An upload is written
here by the web request that receives it and read by whichever worker runs the import;
an export is written here by a worker and downloaded through any web process.

A file is a `StoredFile` record and its bytes, `FileChunk` rows of CHUNK_BYTES in order.
It counts as present once `completed_at` is set: a writer killed half-way leaves a file
that no reader will take for whole. After `expires_at` the retention sweep deletes the
chunks and stamps `purged_at`; the record itself stays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Iterator

from django.db import transaction

from registry.models import FileChunk, StoredFile

CHUNK_BYTES = 1024 * 1024
# Chunks deleted per statement by the retention sweep (each up to CHUNK_BYTES).
_PURGE_BATCH = 200


class FileTooLarge(Exception):
    """The bytes passed the writer's limit; nothing of the file is kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class FileGone(Exception):
    """The file's bytes are not (or no longer) there: purged, or never completed."""


class StoredFileWriter:
    """Writes a file a chunk at a time, each chunk committed on its own, so a long
    export neither holds one huge transaction nor keeps the whole file in memory.
    Call `finish` once everything is written; a writer abandoned before that leaves an
    incomplete file (no `completed_at`) that readers refuse."""

    def __init__(
        self,
        *,
        purpose: str,
        name: str,
        content_type: str,
        now: dt.datetime,
        expires_at: dt.datetime | None = None,
        limit: int | None = None,
    ) -> None:
        self.file = StoredFile.objects.create(
            purpose=purpose,
            name=name[:255],
            content_type=content_type[:100],
            created_at=now,
            expires_at=expires_at,
        )
        self._limit = limit
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._size = 0
        self._next_index = 0

    def write(self, data: bytes) -> None:
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise FileTooLarge(self._limit)
        self._hash.update(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    def finish(self, *, now: dt.datetime) -> StoredFile:
        if self._buffer or self._next_index == 0:
            self._flush(bytes(self._buffer))
            self._buffer.clear()
        StoredFile.objects.filter(pk=self.file.pk).update(
            size=self._size, sha256=self._hash.hexdigest(), completed_at=now
        )
        self.file.refresh_from_db()
        return self.file

    def _flush(self, data: bytes) -> None:
        FileChunk.objects.create(file=self.file, index=self._next_index, data=data)
        self._next_index += 1


def store_file(
    *,
    purpose: str,
    name: str,
    content_type: str,
    chunks: Iterable[bytes],
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    limit: int | None = None,
) -> StoredFile:
    """Keep `chunks` as one file, all or nothing: inside the caller's transaction when
    there is one (an upload and its import run commit together), else its own.
    Past `limit` bytes it raises FileTooLarge and nothing is kept."""
    with transaction.atomic():
        writer = StoredFileWriter(
            purpose=purpose,
            name=name,
            content_type=content_type,
            now=now,
            expires_at=expires_at,
            limit=limit,
        )
        for chunk in chunks:
            writer.write(chunk)
        return writer.finish(now=now)


def file_chunks(stored: StoredFile) -> Iterator[bytes]:
    """The file's bytes in order, one chunk in memory at a time."""
    if stored.completed_at is None or stored.purged_at is not None:
        raise FileGone(str(stored.pk))
    # A file of `size` bytes has exactly this many chunks (an empty file one, empty).
    expected = max(1, -(-stored.size // CHUNK_BYTES))
    for index in range(expected):
        data = (
            FileChunk.objects.filter(file_id=stored.pk, index=index)
            .values_list("data", flat=True)
            .first()
        )
        if data is None:  # purged while being read: never hand out a file cut short
            raise FileGone(str(stored.pk))
        yield bytes(data)


class _ChunkStream(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def open_stored(stored: StoredFile) -> io.BufferedReader:
    """The file as a binary file object (what the import readers take)."""
    if stored.completed_at is None or stored.purged_at is not None:
        raise FileGone(str(stored.pk))
    return io.BufferedReader(_ChunkStream(file_chunks(stored)), buffer_size=CHUNK_BYTES)


def purge_expired_files(*, now: dt.datetime) -> int:
    """Delete the bytes of every file past its retention; return how many files."""
    purged = 0
    due = StoredFile.objects.filter(purged_at__isnull=True, expires_at__lte=now)
    for file_id in list(due.values_list("pk", flat=True)[:1000]):
        while True:
            batch = list(
                FileChunk.objects.filter(file_id=file_id).values_list("pk", flat=True)[
                    :_PURGE_BATCH
                ]
            )
            if not batch:
                break
            FileChunk.objects.filter(pk__in=batch).delete()
        purged += StoredFile.objects.filter(pk=file_id, purged_at__isnull=True).update(
            purged_at=now
        )
    return purged
