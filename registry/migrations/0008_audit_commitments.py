"""The audit chain hashes salted commitments of values, so a value can be purged.

The old chain is verified first (a broken one stops the migration: rehashing it would
hide the break). Every existing event then gets a salt and is rehashed under the new
scheme, in order, and the head follows; a closing `audit.chain_rehashed` event records the old head's hash, so the
old chain (and any copy of it an auditor holds) stays linked to the new one. On
PostgreSQL the append-only trigger now also lets through exactly one kind of UPDATE, a
purge: one new well-formed marker for a real slot whose value, and nothing else, became
"[purged]". DELETE and TRUNCATE remain refused.
"""

import datetime as dt
import hashlib
import json
import os
import secrets

from django.db import migrations, models

GENESIS = "0" * 64
PURGEABLE_COLUMNS = ("actor_label", "reason", "request_id")
# Set to migrate a chain that is already broken, recording the break in the new chain.
ACCEPT_BROKEN = "NHI_AUDIT_MIGRATE_BROKEN_CHAIN"


# Frozen copies of both hashing schemes as they were when this migration was written:
# a migration must compute the same thing forever, whatever registry/audit becomes.
def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(moment):
    return moment.astimezone(dt.UTC).isoformat()


def old_hash(e) -> str:
    payload = {
        "seq": e.seq, "created_at": _iso(e.created_at), "actor_type": e.actor_type,
        "actor_user_id": e.actor_user_id, "actor_label": e.actor_label, "action": e.action,
        "object_type": e.object_type, "object_id": e.object_id,
        "path_id": str(e.path_id) if e.path_id else None, "changes": e.changes,
        "reason": e.reason, "request_id": e.request_id, "prev_hash": e.prev_hash,
    }  # fmt: skip
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def _commitment(salt: str, slot: str, value) -> str:
    digest = hashlib.sha256(bytes.fromhex(salt))
    digest.update(slot.encode())
    digest.update(b"\x00")
    digest.update(_canonical(value).encode())
    return digest.hexdigest()


def new_hash(e) -> str:
    slots = [(c, getattr(e, c)) for c in PURGEABLE_COLUMNS]
    slots += [("changes." + k, v) for k, v in (e.changes or {}).items()]
    payload = {
        "v": 2, "seq": e.seq, "created_at": _iso(e.created_at), "actor_type": e.actor_type,
        "actor_user_id": e.actor_user_id, "action": e.action, "object_type": e.object_type,
        "object_id": e.object_id, "path_id": str(e.path_id) if e.path_id else None,
        "salt": e.salt, "commitments": {k: _commitment(e.salt, k, v) for k, v in slots},
        "prev_hash": e.prev_hash,
    }  # fmt: skip
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


class BrokenChain(Exception):
    pass


def _old_problem(event, expected_seq: int, expected_prev: str) -> str:
    if event.seq != expected_seq:
        return f"event #{expected_seq} is missing"
    if event.prev_hash != expected_prev:
        return f"event #{event.seq} does not follow event #{event.seq - 1}"
    if old_hash(event) != event.hash:
        return f"event #{event.seq} was altered after it was written"
    return ""


DISABLE = "ALTER TABLE registry_auditevent DISABLE TRIGGER registry_auditevent_no_update_delete"
ENABLE = "ALTER TABLE registry_auditevent ENABLE TRIGGER registry_auditevent_no_update_delete"

ALLOW_PURGE_ONLY = """
CREATE OR REPLACE FUNCTION registry_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    added text[];
    slot text;
    marker jsonb;
    field text;
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('nhi.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    -- A purge: every fact, the salt and the hashes unchanged; exactly one new marker
    -- {commitment, by_seq} for a real slot, whose value (and nothing else) is now
    -- "[purged]". verify_audit checks the commitment and the purge event.
    IF TG_OP = 'UPDATE'
       AND NEW.seq = OLD.seq AND NEW.created_at = OLD.created_at
       AND NEW.actor_type = OLD.actor_type
       AND NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id
       AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
       AND NEW.object_id = OLD.object_id AND NEW.path_id IS NOT DISTINCT FROM OLD.path_id
       AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash AND NEW.salt = OLD.salt
       AND jsonb_typeof(NEW.purged) = 'object' THEN
        SELECT array_agg(k) INTO added
            FROM jsonb_object_keys(NEW.purged) AS k WHERE NOT OLD.purged ? k;
        IF coalesce(array_length(added, 1), 0) = 1 THEN
            slot := added[1];
            marker := NEW.purged -> slot;
            IF (NEW.purged - slot) = OLD.purged
               AND jsonb_typeof(marker) = 'object'
               AND jsonb_typeof(marker -> 'commitment') = 'string'
               AND length(marker ->> 'commitment') = 64
               AND jsonb_typeof(marker -> 'by_seq') = 'number'
               AND (marker - 'commitment' - 'by_seq') = '{}'::jsonb THEN
                IF slot IN ('actor_label', 'reason', 'request_id')
                   AND NEW.changes = OLD.changes
                   -- (CASE in parentheses: plpgsql would take its THEN for the IF's)
                   AND NEW.actor_label = (CASE WHEN slot = 'actor_label'
                                               THEN '[purged]' ELSE OLD.actor_label END)
                   AND NEW.reason = (CASE WHEN slot = 'reason'
                                          THEN '[purged]' ELSE OLD.reason END)
                   AND NEW.request_id = (CASE WHEN slot = 'request_id'
                                              THEN '[purged]' ELSE OLD.request_id END) THEN
                    RETURN NEW;
                END IF;
                IF left(slot, 8) = 'changes.' THEN
                    field := substr(slot, 9);
                    IF OLD.changes ? field AND NEW.changes ? field
                       AND (NEW.changes - field) = (OLD.changes - field)
                       AND (NEW.changes -> field) IN
                           ('"[purged]"'::jsonb, '["[purged]", "[purged]"]'::jsonb)
                       AND NEW.actor_label = OLD.actor_label AND NEW.reason = OLD.reason
                       AND NEW.request_id = OLD.request_id THEN
                        RETURN NEW;
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'registry_auditevent is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

REFUSE_ALL = """
CREATE OR REPLACE FUNCTION registry_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('nhi.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'registry_auditevent is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def rehash(apps, schema_editor):
    """Check the old chain, then rehash it in order; refuse to launder a broken one."""
    AuditEvent = apps.get_model("registry", "AuditEvent")
    AuditChainHead = apps.get_model("registry", "AuditChainHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    head = AuditChainHead.objects.filter(pk=1).first()
    old_head = head.last_hash if head else ""
    problem, old_prev, new_prev, seq, last_time, batch = "", GENESIS, GENESIS, 0, None, []
    if postgres:
        schema_editor.execute(DISABLE)
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        problem = problem or _old_problem(event, seq + 1, old_prev)
        old_prev = event.hash
        event.salt = secrets.token_hex(16)
        event.purged = {}
        event.prev_hash = new_prev
        event.hash = new_prev = new_hash(event)
        seq, last_time = event.seq, event.created_at
        batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.bulk_update(batch, ["salt", "purged", "prev_hash", "hash"])
            batch = []
    AuditEvent.objects.bulk_update(batch, ["salt", "purged", "prev_hash", "hash"])
    if not problem and seq and head is not None and (head.last_seq, old_head) != (seq, old_prev):
        problem = f"the chain head (#{head.last_seq}) does not match event #{seq}"
    if problem and os.environ.get(ACCEPT_BROKEN) != "1":
        raise BrokenChain(
            f"The audit chain is broken ({problem}). Rehashing it would hide that, so this "
            f"migration stops. Investigate with the previous release's verify_audit; to "
            f"migrate anyway and record the break in the new chain, set {ACCEPT_BROKEN}=1."
        )
    if postgres:
        # Before the insert below: ALTER TABLE fails once a row has queued trigger events.
        schema_editor.execute(ENABLE)
    if seq:
        closing = AuditEvent(
            seq=seq + 1,
            created_at=max(last_time, dt.datetime.now(dt.UTC)),
            actor_type="system",
            actor_label="system",
            action="audit.chain_rehashed",
            object_type="auditchainhead",
            object_id="1",
            changes={
                "scheme": ["sha256-of-values", "sha256-of-salted-commitments"],
                "previous_head_hash": old_head,
                "events_rehashed": seq,
                "previous_chain_intact": not problem,
                "previous_chain_problem": problem,
            },
            reason="Audit values became purgeable: the chain now hashes their commitments.",
            request_id="",
            prev_hash=new_prev,
            salt=secrets.token_hex(16),
            purged={},
        )
        closing.hash = new_hash(closing)
        closing.save(force_insert=True)
        AuditChainHead.objects.update_or_create(
            pk=1, defaults={"last_seq": closing.seq, "last_hash": closing.hash}
        )


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW_PURGE_ONLY)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_ALL)


class Migration(migrations.Migration):
    dependencies = [("registry", "0007_inventory_sync")]
    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="salt",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="purged",
            field=models.JSONField(blank=True, default=dict),
        ),
        # Irreversible: the old code cannot verify the new hashes.
        migrations.RunPython(rehash),
        migrations.RunPython(install_trigger, remove_trigger),
    ]
