"""The audit trail: hash-chained, gap-free, append-only.

Tampering is simulated with raw SQL behind the application's back. That only works on
SQLite: on PostgreSQL the triggers of migration 0002 refuse it, which the
PostgreSQL-only tests at the end pin down.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from registry import services
from registry.audit import GENESIS_HASH, audit_record, event_hash, verify_chain
from registry.models import AuditChainHead, AuditEvent, Team
from registry.rules.actors import Actor
from registry.rules.errors import NotAllowed
from registry.runtime.request_id import current_request_id, request_context
from tests.conftest import NOW

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="edits the audit table behind the app's back; PostgreSQL's triggers refuse that",
)


def tamper(sql: str, params: list | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


@pytest.fixture
def history(personas, make_path, unowned_path):
    """A few dozen events of every kind: teams, memberships, paths, claims."""
    make_path()
    claim = services.path_claim(
        actor=personas.pat, path=unowned_path, team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.", now=NOW,
    )  # fmt: skip
    services.claim_approve(actor=personas.sam, claim=claim, now=NOW)
    assert AuditEvent.objects.count() >= 10
    return AuditEvent.objects.count()


# --- the chain as written ------------------------------------------------------------


def test_empty_chain_is_intact(db):
    report = verify_chain()
    assert report.intact
    assert report.checked == 0


def test_intact_chain_passes(history):
    report = verify_chain()
    assert report.intact, report.problem
    assert report.checked == history
    assert report.broken_seq is None
    assert report.problem == ""


def test_each_event_chains_to_the_one_before(history):
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS_HASH
    for before, event in itertools.pairwise(events):
        assert event.prev_hash == before.hash
    for event in events:
        assert event.hash == event_hash(event)
        assert re.fullmatch(r"[0-9a-f]{64}", event.hash)
    head = AuditChainHead.objects.get(pk=1)
    assert head.last_seq == events[-1].seq
    assert head.last_hash == events[-1].hash


def test_events_name_actor_action_and_object(personas, make_path):
    path = make_path(actor=personas.pat)
    event = AuditEvent.objects.get(seq=last_seq())
    assert event.action == "access_path.registered"
    assert event.actor_type == AuditEvent.ActorType.USER
    assert event.actor_user == personas.users.pat
    assert event.actor_label == "pat"
    assert event.object_type == "accesspath"
    assert event.object_id == str(path.pk)
    assert event.path_id == path.pk
    assert event.changes["owner_team"] == [None, "payments"]


def test_request_id_is_recorded(personas, make_path):
    with request_context("req-0001") as request_id:
        assert request_id == "req-0001"
        assert current_request_id() == "req-0001"
        first = make_path()
        make_path()
    assert current_request_id() == ""
    in_request = AuditEvent.objects.filter(request_id="req-0001")
    assert in_request.count() == 2
    assert set(in_request.values_list("path_id", flat=True)) != {first.pk}

    outside = make_path()
    assert AuditEvent.objects.get(path=outside).request_id == ""
    assert verify_chain().intact


def test_request_context_generates_and_nests_ids(personas, make_path):
    with request_context() as outer:
        assert re.fullmatch(r"[0-9a-f]{32}", outer)
        with request_context("inner-job") as inner:
            make_path()
            assert AuditEvent.objects.get(seq=last_seq()).request_id == inner
        make_path()
        assert AuditEvent.objects.get(seq=last_seq()).request_id == outer
    assert current_request_id() == ""


def test_request_id_is_part_of_the_hash(personas, make_path):
    with request_context("req-hashed"):
        make_path()
    event = AuditEvent.objects.get(seq=last_seq())
    event.request_id = "req-forged"
    assert event_hash(event) != event.hash


def test_hashes_survive_the_database_round_trip(personas):
    """A hash computed before saving must match the row read back: microseconds, a
    non-UTC clock and non-ASCII text all come back identical."""
    tokyo = dt.timezone(dt.timedelta(hours=9))
    odd_now = (NOW + dt.timedelta(microseconds=123457)).astimezone(tokyo)
    services.team_create(
        actor=personas.system,
        data={"slug": "zahlungen", "name": "Zahlungsverkehr Übersee 決済"},
        now=odd_now,
    )
    event = AuditEvent.objects.get(seq=last_seq())
    assert event.created_at == odd_now
    assert event.changes["name"] == [None, "Zahlungsverkehr Übersee 決済"]
    assert event_hash(event) == event.hash
    assert verify_chain().intact


def test_a_refused_change_writes_no_event(personas, unowned_path):
    before = last_seq()
    with pytest.raises(NotAllowed):
        services.path_claim(
            actor=personas.otto, path=unowned_path, team=personas.teams.payments,
            reason="Our billing export job runs under this account every night.", now=NOW,
        )  # fmt: skip
    assert last_seq() == before
    assert verify_chain().intact


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction():
    team = Team(slug="x", name="X", created_at=NOW, updated_at=NOW)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=Actor.system(), action="team.created", obj=team, now=NOW)
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_takes_its_event_with_it(personas):
    before = last_seq()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        services.team_create(
            actor=personas.system, data={"slug": "ghost", "name": "Ghost"}, now=NOW
        )
        assert last_seq() == before + 1
        1 / 0  # noqa: B018
    assert last_seq() == before
    assert not Team.objects.filter(slug="ghost").exists()
    assert AuditChainHead.objects.get(pk=1).last_seq == before
    services.team_create(actor=personas.system, data={"slug": "real", "name": "Real"}, now=NOW)
    assert last_seq() == before + 1
    assert verify_chain().intact


# --- tampering (SQLite only) ---------------------------------------------------------


@sqlite_only
def test_edited_row_is_caught(history):
    tamper("UPDATE registry_auditevent SET reason = 'x' WHERE seq = 2")
    report = verify_chain()
    assert not report.intact
    assert report.broken_seq == 2
    assert "#2" in report.problem
    assert "altered" in report.problem
    assert report.checked == 1


@sqlite_only
def test_edited_changes_are_caught(history):
    event = AuditEvent.objects.filter(action="claim.approved").get()
    forged = {**event.changes, "owner_team": [None, "data"]}
    AuditEvent.objects.filter(seq=event.seq).update(changes=forged)
    report = verify_chain()
    assert report.broken_seq == event.seq
    assert f"#{event.seq}" in report.problem


@sqlite_only
def test_edited_row_with_recomputed_hash_breaks_the_next_link(history):
    """Rewriting one event's hash to match its edit still breaks the event after it."""
    event = AuditEvent.objects.get(seq=2)
    event.reason = "x"
    tamper(
        "UPDATE registry_auditevent SET reason = %s, hash = %s WHERE seq = 2",
        [event.reason, event_hash(event)],
    )
    report = verify_chain()
    assert report.broken_seq == 3
    assert "#3" in report.problem
    assert "does not follow" in report.problem


@sqlite_only
def test_deleted_middle_row_is_caught_as_missing(history):
    tamper("DELETE FROM registry_auditevent WHERE seq = 2")
    report = verify_chain()
    assert report.broken_seq == 2
    assert report.problem == "event #2 is missing"


@sqlite_only
def test_deleted_first_row_is_caught_as_missing(history):
    tamper("DELETE FROM registry_auditevent WHERE seq = 1")
    report = verify_chain()
    assert report.broken_seq == 1
    assert "#1" in report.problem


@sqlite_only
def test_deleted_last_row_is_caught_by_the_chain_head(history):
    last = last_seq()
    tamper("DELETE FROM registry_auditevent WHERE seq = %s", [last])
    report = verify_chain()
    assert not report.intact
    assert report.broken_seq == last
    assert report.checked == last - 1
    assert f"#{last}" in report.problem
    assert "missing" in report.problem


@sqlite_only
def test_deleted_tail_is_caught_by_the_chain_head(history):
    tamper("DELETE FROM registry_auditevent WHERE seq > 3")
    report = verify_chain()
    assert report.broken_seq == 4
    assert f"head is #{history}" in report.problem


@sqlite_only
def test_edited_last_row_with_recomputed_hash_is_caught_by_the_chain_head(history):
    event = AuditEvent.objects.get(seq=history)
    event.reason = "Approved by the CISO."
    tamper(
        "UPDATE registry_auditevent SET reason = %s, hash = %s WHERE seq = %s",
        [event.reason, event_hash(event), history],
    )
    report = verify_chain()
    assert report.broken_seq == history
    assert f"#{history}" in report.problem


def test_event_forged_past_the_chain_head_is_caught(history):
    last = AuditEvent.objects.get(seq=history)
    forged = AuditEvent(
        seq=history + 1,
        created_at=NOW,
        actor_type=AuditEvent.ActorType.SYSTEM,
        actor_label="system",
        action="access_path.revoked",
        object_type="accesspath",
        object_id=last.object_id,
        prev_hash=last.hash,
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    assert AuditChainHead.objects.get(pk=1).last_seq == history
    report = verify_chain()
    assert not report.intact
    assert report.broken_seq == history + 1


# --- the verify_audit command --------------------------------------------------------


def run_verify_audit() -> tuple[int, str]:
    """(exit code, everything it said) of `manage.py verify_audit`."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode or 1, f"{out.getvalue()}{err.getvalue()}{exc}"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, f"{out.getvalue()}{err.getvalue()}{exc.code or ''}"
    return 0, out.getvalue() + err.getvalue()


def test_verify_audit_command_on_an_intact_chain(history):
    code, said = run_verify_audit()
    assert code == 0, said
    assert "intact" in said.lower()


def test_verify_audit_command_on_an_empty_chain(db):
    code, said = run_verify_audit()
    assert code == 0, said
    assert "intact" in said.lower()


@sqlite_only
def test_verify_audit_command_names_the_first_broken_event(history):
    tamper("UPDATE registry_auditevent SET reason = 'x' WHERE seq = 3")
    tamper("UPDATE registry_auditevent SET reason = 'y' WHERE seq = 5")
    code, said = run_verify_audit()
    assert code != 0, said
    assert "#3" in said
    assert "intact" not in said.lower().replace("not intact", "")


@sqlite_only
def test_verify_audit_command_names_a_missing_event(history):
    tamper("DELETE FROM registry_auditevent WHERE seq = 2")
    code, said = run_verify_audit()
    assert code != 0, said
    assert "#2" in said


# --- append-only in the database (PostgreSQL only) -----------------------------------


def refused(sql: str, params: list | tuple = (), *, setup: str = "") -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        if setup:
            cursor.execute(setup)
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_trigger_refuses_update(history):
    refused("UPDATE registry_auditevent SET reason = 'x' WHERE seq = 2")
    assert AuditEvent.objects.get(seq=2).reason != "x"
    assert verify_chain().intact


@pytest.mark.postgres
def test_trigger_refuses_update_through_the_orm(history):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(reason="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event = AuditEvent.objects.get(seq=3)
        event.reason = "x"
        event.save()
    assert verify_chain().intact


@pytest.mark.postgres
def test_trigger_refuses_delete(history):
    refused("DELETE FROM registry_auditevent WHERE seq = 2")
    refused("DELETE FROM registry_auditevent WHERE seq = %s", [history])
    refused("DELETE FROM registry_auditevent")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).delete()
    assert AuditEvent.objects.count() == history
    assert verify_chain().intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_trigger_refuses_truncate_without_the_test_escape(history):
    # Committed rows: a TRUNCATE in the transaction that inserted them would fail for
    # another reason (pending deferred-constraint trigger events).
    refused("TRUNCATE registry_auditevent", setup="SET LOCAL nhi.allow_audit_truncate = 'off'")
    refused("TRUNCATE registry_auditevent", setup="SET LOCAL nhi.allow_audit_truncate = ''")
    assert AuditEvent.objects.count() == history
    assert verify_chain().intact


@pytest.mark.postgres
def test_truncate_escape_does_not_open_update_or_delete(history):
    on = "SET LOCAL nhi.allow_audit_truncate = 'on'"
    refused("UPDATE registry_auditevent SET reason = 'x' WHERE seq = 2", setup=on)
    refused("DELETE FROM registry_auditevent WHERE seq = 2", setup=on)
    assert verify_chain().intact


@pytest.mark.postgres
def test_refusal_is_an_insufficient_privilege_error(history):
    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM registry_auditevent WHERE seq = 1")
    assert getattr(caught.value.__cause__, "sqlstate", None) == "42501"
