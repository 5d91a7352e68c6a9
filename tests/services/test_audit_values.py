"""Purging a value from the audit trail: the value goes, the chain still verifies, the
purge is itself on record, and a quiet blanking is caught."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from rest_framework.test import APIClient

from registry import services
from registry.audit import PURGE_ACTION, PURGED, verify_chain
from registry.audit.chain import commitment
from registry.models import AuditEvent
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, NotFound
from registry.runtime.request_id import request_context
from registry.selectors import audit_stored_secrets
from tests.assertions import audit_trigger_disabled, refused
from tests.conftest import NOW

# Shaped like a credential the detector did not know when it was written (it is an
# ordinary word now, so the services accept it): the purge works on any value.
LEAKED = "corp-legacy-token-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TOKEN = "ghp_A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"


@pytest.fixture
def leaked_event(personas, path):
    """An edit whose reason carries the leaked value (before anyone knew its format)."""
    services.path_update(
        actor=personas.lee,
        path=path,
        changes={"privilege_scope": "read: invoices bucket " + LEAKED},
        reason="Rotated; the old value was " + LEAKED,
        now=NOW,
    )
    return AuditEvent.objects.order_by("-seq").first()


def purge(personas, event, slot="reason", **kwargs):
    return services.audit_value_purge(
        actor=kwargs.pop("actor", personas.sam),
        seq=event.seq,
        slot=slot,
        reason=kwargs.pop("reason", "A legacy token pasted into the reason; rotated."),
        now=NOW,
    )


def test_purge_replaces_the_value_and_the_chain_still_verifies(personas, leaked_event):
    original_hash = leaked_event.hash
    purge_event = purge(personas, leaked_event)
    leaked_event.refresh_from_db()
    assert leaked_event.reason == PURGED
    assert leaked_event.hash == original_hash
    assert LEAKED in str(leaked_event.changes)  # a separate slot, purged on its own
    assert leaked_event.purged["reason"]["by_seq"] == purge_event.seq
    report = verify_chain()
    assert report.intact, report.problem
    # The purge is on record: who, when, why, which value — never the value.
    assert purge_event.action == PURGE_ACTION
    assert purge_event.actor_user == personas.users.sam
    assert purge_event.object_id == str(leaked_event.seq)
    assert purge_event.changes["slot"] == "reason"
    assert purge_event.reason == "A legacy token pasted into the reason; rotated."
    assert LEAKED not in str(purge_event.changes)


def test_a_changed_field_is_purged_keeping_its_before_after_shape(personas, leaked_event):
    purge(personas, leaked_event, slot="changes.privilege_scope")
    purge(personas, leaked_event, slot="reason")
    leaked_event.refresh_from_db()
    assert leaked_event.changes["privilege_scope"] == [PURGED, PURGED]
    assert LEAKED not in str(leaked_event.changes) + leaked_event.reason
    assert verify_chain().intact
    assert list(audit_stored_secrets()) == []


def test_the_commitment_kept_is_the_one_the_hash_covered(personas, leaked_event):
    expected = commitment(leaked_event.salt, "reason", leaked_event.reason)
    purge(personas, leaked_event)
    leaked_event.refresh_from_db()
    assert leaked_event.purged["reason"]["commitment"] == expected


@pytest.mark.parametrize(
    "persona", ["pat", "lee", "dana", "otto", "payments_ci", "system", "sams_token"]
)
def test_only_a_security_reviewer_by_name_may_purge(personas, leaked_event, persona):
    from registry.rules.actors import Actor

    actor = (
        Actor.personal_token(personas.users.sam, token_id="tok_sam", name="laptop")
        if persona == "sams_token"
        else getattr(personas, persona)
    )
    with refused(NotAllowed, errors.PURGE_NEEDS_A_PERSON):
        purge(personas, leaked_event, actor=actor)


def test_refusals(personas, leaked_event):
    with refused(Invalid) as caught:
        purge(personas, leaked_event, slot="changes.no_such_field")
    assert caught.value.field == "slot"
    assert caught.value.message.startswith("This event has no value called changes.no_such_field")
    with refused(Invalid, errors.REQUIRED):
        purge(personas, leaked_event, reason="  ")
    with refused(NotFound, errors.AUDIT_EVENT_NOT_FOUND):
        services.audit_value_purge(
            actor=personas.sam, seq=10**9, slot="reason", reason="Nothing there.", now=NOW
        )
    purge_event = purge(personas, leaked_event)
    with refused(InvalidTransition, errors.AUDIT_ALREADY_PURGED):
        purge(personas, leaked_event)
    with refused(InvalidTransition, errors.AUDIT_PURGE_OF_PURGE):
        purge(personas, purge_event, slot="changes.slot")


def test_a_purge_events_own_reason_can_be_purged(personas, leaked_event):
    """Someone pasted the credential into the purge's reason too: that goes as well,
    while the record of what was purged (which the verifier needs) stays."""
    purge_event = purge(personas, leaked_event, reason="Purged; it was " + LEAKED)
    purge(personas, purge_event, slot="reason")
    purge_event.refresh_from_db()
    assert purge_event.reason == PURGED
    assert purge_event.changes["slot"] == "reason"
    assert verify_chain().intact


def _blank_quietly(seq: int, marker: dict) -> None:
    """What someone with the database might do instead of a recorded purge."""
    with audit_trigger_disabled():
        event = AuditEvent.objects.get(seq=seq)
        AuditEvent.objects.filter(seq=seq).update(
            reason=PURGED,
            purged={
                "reason": {
                    **marker,
                    "commitment": marker.get("commitment")
                    or commitment(event.salt, "reason", event.reason),
                }
            },
        )


def test_a_purge_without_its_purge_event_is_reported(personas, leaked_event):
    _blank_quietly(leaked_event.seq, {"by_seq": leaked_event.seq + 1})
    report = verify_chain()
    assert not report.intact
    assert report.broken_seq == leaked_event.seq
    assert "purged without a purge event" in report.problem


def test_a_purged_value_written_over_is_reported(personas, leaked_event):
    purge(personas, leaked_event)
    with audit_trigger_disabled():
        AuditEvent.objects.filter(seq=leaked_event.seq).update(reason="Nothing happened here.")
    report = verify_chain()
    assert report.broken_seq == leaked_event.seq
    assert "written over" in report.problem


@pytest.mark.postgres
def test_the_database_lets_a_purge_through_and_nothing_else(personas, leaked_event):
    purge(personas, leaked_event)  # a purge is an UPDATE the trigger allows
    for sql in (
        "UPDATE registry_auditevent SET reason = 'x' WHERE seq = %s",  # no purged growth
        "UPDATE registry_auditevent SET hash = md5(hash) || md5(hash) WHERE seq = %s",
        "UPDATE registry_auditevent SET action = 'x', purged = purged || '{\"a\": 1}' "
        "WHERE seq = %s",
        # Within the app role's column grants, yet no purge: a rewrite with a junk marker,
        # a marker for a slot that does not exist, a purge that also edits another value.
        "UPDATE registry_auditevent SET reason = 'rewritten', changes = '{}', "
        "purged = purged || '{\"zz\": 1}' WHERE seq = %s",
        "UPDATE registry_auditevent SET purged = purged || "
        '\'{"changes.nope": {"commitment": "' + "a" * 64 + '", "by_seq": 1}}\' '
        "WHERE seq = %s",
        "UPDATE registry_auditevent SET request_id = '[purged]', actor_label = 'sam', "
        'purged = purged || \'{"request_id": {"commitment": "' + "a" * 64 + '", '
        '"by_seq": 1}}\' WHERE seq = %s',
        "DELETE FROM registry_auditevent WHERE seq = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [leaked_event.seq])
    assert verify_chain().intact


def test_command_finds_and_purges_what_the_detector_now_knows(personas, path, monkeypatch):
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    from registry.audit import audit_record, record
    from registry.rules.actors import Actor

    # Written when the detector did not know this format yet (today it refuses it).
    monkeypatch.setattr(record, "secret_errors", lambda values: {})
    with transaction.atomic(), request_context():
        audit_record(
            actor=Actor.system(), action="access_path.updated", obj=path, now=NOW,
            reason="legacy note " + token,
        )  # fmt: skip
    monkeypatch.undo()
    found = list(audit_stored_secrets())
    assert [(f.slot, f.kind) for f in found] == [("reason", "GitHub token")]
    out = StringIO()
    call_command("audit_purge", "--detected", "--dry-run", stdout=out)
    assert "1 value(s) would be purged" in out.getvalue()
    with pytest.raises(CommandError, match="--as"):
        call_command("audit_purge", "--detected", "--reason", "Leaked token.", stdout=out)
    call_command(
        "audit_purge", "--detected", "--as", "sam", "--reason", "Leaked token.", stdout=out
    )
    assert token not in str(list(AuditEvent.objects.values_list("reason", "changes")))
    assert verify_chain().intact
    with pytest.raises(CommandError, match="Only a security reviewer"):
        call_command(
            "audit_purge", "--seq", "1", "--slot", "reason", "--as", "pat", "--reason", "x y"
        )


def test_the_audit_trail_refuses_a_credential_a_service_forgot_to_check(personas, path):
    from registry.audit import audit_record
    from registry.rules.actors import Actor

    before = AuditEvent.objects.count()
    with pytest.raises(Invalid) as caught, transaction.atomic():
        audit_record(
            actor=Actor.system(), action="access_path.updated", obj=path, now=NOW,
            changes={"consumers": [["ci"], ["ci", TOKEN]]},
        )  # fmt: skip
    assert caught.value.errors == {
        "consumers": [errors.LOOKS_LIKE_SECRET.format(kind="GitHub token")]
    }
    assert AuditEvent.objects.count() == before


def test_api_purge(personas, leaked_event):
    client = APIClient()
    client.force_authenticate(personas.users.sam)
    url = f"/api/v1/audit-events/{leaked_event.seq}/purge/"
    bad = client.post(url, {"slot": "nope", "reason": "Leaked token."}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"]["slot"][0].startswith("This event has no value called nope")
    done = client.post(url, {"slot": "reason", "reason": "Leaked token."}, format="json")
    assert done.status_code == 201, done.content
    assert done.json()["action"] == PURGE_ACTION
    shown = client.get(f"/api/v1/audit-events/{leaked_event.seq}/").json()
    assert shown["reason"] == PURGED
    assert shown["purged"] == {"reason": done.json()["seq"]}
    again = client.post(url, {"slot": "reason", "reason": "Leaked token."}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize(
    "purged",
    [
        {"zz": 1},
        {"reason": "not a marker"},
        {"reason": {"commitment": "a" * 64}},
        {"changes.nope": {"commitment": "a" * 64, "by_seq": 1}},
    ],
)
def test_a_malformed_purge_marker_is_reported_not_a_crash(personas, leaked_event, purged):
    with audit_trigger_disabled():
        AuditEvent.objects.filter(seq=leaked_event.seq).update(reason=PURGED, purged=purged)
    report = verify_chain()
    assert report.broken_seq == leaked_event.seq
    assert "malformed purge marker" in report.problem or "written over" in report.problem
    client = APIClient()
    client.force_authenticate(personas.users.sam)
    assert client.get("/api/v1/audit-events/").status_code == 200


def test_detected_leaves_key_ids_in_identifier_fields_alone(personas, make_path):
    make_path(name="legacy-ci-user", external_id="AKIAIOSFODNN7EXAMPLE")
    assert list(audit_stored_secrets()) == []


# --- migration 0008 on an existing chain --------------------------------------------------


def _as_old_chain(migration) -> None:
    """Turn the events written by the current code into the chain 0007 wrote."""
    with audit_trigger_disabled():
        prev = migration.GENESIS
        for event in AuditEvent.objects.order_by("seq"):
            event.prev_hash, event.salt = prev, ""
            event.hash = prev = migration.old_hash(event)
            AuditEvent.objects.filter(seq=event.seq).update(
                prev_hash=event.prev_hash, hash=event.hash, salt=""
            )
        from registry.models import AuditChainHead

        AuditChainHead.objects.update(last_hash=prev)


def _run_0008(migration):
    """The migration's data step, inside the test's transaction (what it uses of the
    schema editor is the connection and execute)."""
    from types import SimpleNamespace

    from django.apps import apps

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        editor = SimpleNamespace(connection=connection, execute=cursor.execute)
        with transaction.atomic():
            migration.rehash(apps, editor)


@pytest.fixture
def migration():
    import importlib

    return importlib.import_module("registry.migrations.0008_audit_commitments")


def test_migration_rehashes_an_intact_old_chain(personas, path, migration):
    _as_old_chain(migration)
    events = AuditEvent.objects.count()
    _run_0008(migration)
    report = verify_chain()
    assert report.intact, report.problem
    closing = AuditEvent.objects.order_by("-seq").first()
    assert closing.action == "audit.chain_rehashed"
    assert closing.changes["events_rehashed"] == events
    assert closing.changes["previous_chain_intact"] is True


def test_migration_refuses_to_launder_a_broken_old_chain(personas, path, migration, monkeypatch):
    _as_old_chain(migration)
    with audit_trigger_disabled():
        AuditEvent.objects.filter(seq=3).update(actor_label="sam")
    with pytest.raises(migration.BrokenChain, match="event #3 was altered"):
        _run_0008(migration)
    monkeypatch.setenv(migration.ACCEPT_BROKEN, "1")
    _run_0008(migration)
    closing = AuditEvent.objects.order_by("-seq").first()
    assert closing.changes["previous_chain_intact"] is False
    assert "event #3 was altered" in closing.changes["previous_chain_problem"]
    assert verify_chain().intact
