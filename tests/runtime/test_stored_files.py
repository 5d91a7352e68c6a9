"""Files kept in the database: written whole or not at all, read back byte for byte,
their bytes purged after retention while the record stays."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.db import transaction
from django.utils import timezone

from registry.models import FileChunk, StoredFile
from registry.runtime import stored_files
from registry.runtime.stored_files import (
    CHUNK_BYTES,
    FileGone,
    FileTooLarge,
    StoredFileWriter,
    file_chunks,
    open_stored,
    purge_expired_files,
    store_file,
)

pytestmark = pytest.mark.django_db

UPLOAD = StoredFile.Purpose.IMPORT_UPLOAD


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_file_reads_back_exactly_whatever_the_pieces_it_came_in():
    now = timezone.now()
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 7)  # two chunks and a bit
    stored = store_file(
        purpose=UPLOAD, name="paths.csv", content_type="text/csv",
        chunks=_pieces(data, 65_537), now=now,
    )  # fmt: skip
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.completed_at == now
    assert FileChunk.objects.filter(file=stored).count() == 3
    assert b"".join(file_chunks(stored)) == data
    with open_stored(stored) as handle:
        assert handle.read(10) == data[:10]
        assert handle.read() == data[10:]


def test_an_empty_file_is_a_file():
    stored = store_file(
        purpose=UPLOAD, name="empty.csv", content_type="text/csv", chunks=[],
        now=timezone.now(),
    )  # fmt: skip
    assert stored.size == 0
    assert open_stored(stored).read() == b""


def test_a_file_past_its_limit_leaves_nothing():
    before = StoredFile.objects.count()
    with pytest.raises(FileTooLarge):
        store_file(
            purpose=UPLOAD, name="big.csv", content_type="text/csv",
            chunks=[b"x" * 600, b"x" * 600], now=timezone.now(), limit=1000,
        )  # fmt: skip
    assert StoredFile.objects.count() == before
    assert not FileChunk.objects.exists()


def test_an_unfinished_file_is_refused_by_readers():
    with transaction.atomic():
        writer = StoredFileWriter(
            purpose=StoredFile.Purpose.EXPORT, name="x.csv", content_type="text/csv",
            now=timezone.now(),
        )  # fmt: skip
        writer.write(b"id,name\n")
    with pytest.raises(FileGone):
        open_stored(writer.file)
    with pytest.raises(FileGone):
        list(file_chunks(writer.file))


def test_retention_deletes_the_bytes_and_keeps_the_record(monkeypatch):
    now = timezone.now()
    expired = store_file(
        purpose=UPLOAD, name="old.csv", content_type="text/csv", chunks=[b"a" * 10],
        now=now, expires_at=now - dt.timedelta(seconds=1),
    )  # fmt: skip
    kept = store_file(
        purpose=UPLOAD, name="new.csv", content_type="text/csv", chunks=[b"b" * 10],
        now=now, expires_at=now + dt.timedelta(days=1),
    )  # fmt: skip
    forever = store_file(
        purpose=UPLOAD, name="keep.csv", content_type="text/csv", chunks=[b"c"], now=now
    )
    monkeypatch.setattr(stored_files, "_PURGE_BATCH", 1)  # one chunk per statement
    assert purge_expired_files(now=now) == 1
    expired.refresh_from_db()
    assert expired.purged_at == now
    assert not FileChunk.objects.filter(file=expired).exists()
    with pytest.raises(FileGone):
        open_stored(expired)
    assert open_stored(kept).read() == b"b" * 10
    assert open_stored(forever).read() == b"c"
    assert purge_expired_files(now=now) == 0


def test_a_file_purged_while_being_read_is_never_handed_out_cut_short():
    now = timezone.now()
    data = b"x" * (CHUNK_BYTES + 10)  # two chunks
    stored = store_file(
        purpose=UPLOAD, name="big.csv", content_type="text/csv", chunks=[data], now=now
    )
    reader = file_chunks(stored)
    assert next(reader) == data[:CHUNK_BYTES]
    FileChunk.objects.filter(file=stored, index=1).delete()  # the purge, mid-read
    with pytest.raises(FileGone):
        next(reader)
