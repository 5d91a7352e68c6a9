"""The audit chain hashes salted commitments of values, so a value can be purged.

Every existing event gets a salt and is rehashed under the new scheme, in order, and the
head follows; a closing `audit.chain_rehashed` event records the old head's hash, so the
old chain (and any copy of it an auditor holds) stays linked to the new one. On
PostgreSQL the append-only trigger now also lets through exactly one kind of UPDATE:
replacing value columns while every fact, the salt and the hashes stay as they were and
`purged` only grows — a purge. DELETE and TRUNCATE remain refused.
"""

import datetime as dt

from django.db import migrations, models

from registry.audit.chain import GENESIS_HASH, event_hash, new_salt

DISABLE = "ALTER TABLE registry_auditevent DISABLE TRIGGER registry_auditevent_no_update_delete"
ENABLE = "ALTER TABLE registry_auditevent ENABLE TRIGGER registry_auditevent_no_update_delete"

ALLOW_PURGE_ONLY = """
CREATE OR REPLACE FUNCTION registry_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('nhi.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND NEW.seq = OLD.seq AND NEW.created_at = OLD.created_at
       AND NEW.actor_type = OLD.actor_type
       AND NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id
       AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
       AND NEW.object_id = OLD.object_id AND NEW.path_id IS NOT DISTINCT FROM OLD.path_id
       AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash AND NEW.salt = OLD.salt
       AND NEW.purged @> OLD.purged AND NEW.purged <> OLD.purged THEN
        RETURN NEW;
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
    AuditEvent = apps.get_model("registry", "AuditEvent")
    AuditChainHead = apps.get_model("registry", "AuditChainHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(DISABLE)
    prev, seq, last_time, batch = GENESIS_HASH, 0, None, []
    head = AuditChainHead.objects.filter(pk=1).first()
    old_head = head.last_hash if head else ""
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        event.salt = new_salt()
        event.purged = {}
        event.prev_hash = prev
        event.hash = prev = event_hash(event)
        seq, last_time = event.seq, event.created_at
        batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.bulk_update(batch, ["salt", "purged", "prev_hash", "hash"])
            batch = []
    AuditEvent.objects.bulk_update(batch, ["salt", "purged", "prev_hash", "hash"])
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
            },
            reason="Audit values became purgeable: the chain now hashes their commitments.",
            request_id="",
            prev_hash=prev,
            salt=new_salt(),
            purged={},
        )
        closing.hash = event_hash(closing)
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
        migrations.RunPython(rehash, migrations.RunPython.noop),
        migrations.RunPython(install_trigger, remove_trigger),
    ]
