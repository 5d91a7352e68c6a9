"""`verify_audit` reads the chain in one snapshot, so it can run while the registry writes.

Issue 14: half of the runs during writes said "BROKEN ... events after #N are missing":
the walk read the events, writers committed, then it read the moved head. Here writer
threads (each its own database connection, each append its own transaction through
`audit_record`) run while the verifier walks the chain; the same walk without the
snapshot (`walk_chain` in autocommit, the old behaviour) is shown to fail under the same
load, so the positive test is not one that cannot fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from registry.audit import AuditEntry, audit_record, audit_record_many, verify_chain
from registry.audit.snapshot import chain_snapshot
from registry.audit.verify import walk_chain
from registry.models import AuditChainHead, Team
from registry.rules.actors import Actor

ACTOR = Actor.system("snapshot-test")
# Long enough that a walk spans many concurrent commits (a few tenths of a second).
SEEDED_EVENTS = 2_000
WRITERS = 3
RUNS = 10


def head_seq() -> int:
    head = AuditChainHead.objects.filter(pk=1).first()
    return head.last_seq if head else 0


def append_one(team: Team) -> None:
    with transaction.atomic():
        audit_record(actor=ACTOR, action="test.appended", obj=team, now=timezone.now())


def append_from_another_connection(team: Team) -> None:
    """One committed append on a connection of its own (a thread has its own)."""

    def work() -> None:
        try:
            append_one(team)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.fixture
def team(db) -> Team:
    now = timezone.now()
    return Team.objects.create(
        slug="writers", name="Writers", kind=Team.Kind.PRODUCT, created_at=now, updated_at=now
    )


@contextmanager
def writers_running(team: Team) -> Iterator[list[int]]:
    """Writer threads appending as fast as they can until the block ends; yields the
    list their append counts go into (checked to be non-zero: the load was real)."""
    stop = threading.Event()
    counts: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        done = 0
        try:
            while not stop.is_set():
                append_one(team)
                done += 1
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
        finally:
            counts.append(done)
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        yield counts
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    assert len(counts) == WRITERS and all(counts), counts


def seed(team: Team, count: int) -> None:
    entries = [AuditEntry(action="test.seeded", obj=team) for _ in range(count)]
    with transaction.atomic():
        for start in range(0, count, 1_000):
            batch = entries[start : start + 1_000]
            audit_record_many(actor=ACTOR, now=timezone.now(), entries=batch)


def runs_under_load(check) -> list[tuple[bool, int, str]]:
    """(intact, commits during the run, problem) for RUNS runs of `check`."""
    results = []
    for _ in range(RUNS):
        before = head_seq()
        report = check()
        results.append((report.intact, head_seq() - before, report.problem))
    return results


# --- the snapshot itself -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_does_not_see_a_commit_made_after_its_first_read(team):
    append_one(team)
    with chain_snapshot():
        first = head_seq()
        append_from_another_connection(team)
        assert head_seq() == first  # the other connection's commit is not visible here
    assert head_seq() == first + 1  # ... and is there once the snapshot ends
    # Without a snapshot each statement sees the latest commit: what the old walk did.
    append_from_another_connection(team)
    assert head_seq() == first + 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_is_read_only(team):
    with pytest.raises(DatabaseError, match="read-only transaction"), chain_snapshot():
        append_one(team)
    assert head_seq() == 0


@pytest.mark.django_db(transaction=True)
def test_snapshots_nest_and_leave_no_transaction_open(team):
    """An outer snapshot (the command's, around the walk and the anchors) contains the
    walk's own; afterwards the connection is back in autocommit with nothing open."""
    seed(team, 5)
    with chain_snapshot():
        with chain_snapshot():
            assert verify_chain().intact
        assert walk_chain().checked == 5
    assert not connection.in_atomic_block
    if connection.vendor == "sqlite":
        assert not connection.connection.in_transaction
    append_one(team)  # writing works again
    assert verify_chain().checked == 6


def test_inside_a_callers_transaction_the_callers_snapshot_rules(team):
    """No isolation level can be set mid-transaction: the walk joins the caller's."""
    seed(team, 3)
    with transaction.atomic():
        assert verify_chain().checked == 3


# --- verifying while writers run (issue 14) -------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_verify_says_intact_every_time_while_writers_append(team):
    seed(team, SEEDED_EVENTS)
    with writers_running(team):
        results = runs_under_load(verify_chain)
        out = StringIO()
        call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()
    # Every run overlapped with commits, or the test proves nothing.
    assert all(moved > 0 for _, moved, _ in results), results
    assert all(intact for intact, _, _ in results), results
    assert verify_chain().intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_walk_without_a_snapshot_cries_wolf(team):
    """The negative control: the old two-statement read under the same load reports a
    chain cut short, so the test above would fail if the snapshot were removed."""
    seed(team, SEEDED_EVENTS)
    with writers_running(team):
        results = runs_under_load(walk_chain)
    assert all(moved > 0 for _, moved, _ in results), results
    assert any(not intact for intact, _, _ in results), results
    assert verify_chain().intact  # nothing was ever wrong with the chain
