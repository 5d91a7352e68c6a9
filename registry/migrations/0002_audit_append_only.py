"""On PostgreSQL, make the audit table append-only in the database itself.

UPDATE and DELETE are refused per row, TRUNCATE per statement, whoever connects. The
one escape is for TRUNCATE only: the test suite's database sets the GUC
`nhi.allow_audit_truncate = on` (ALTER DATABASE, see tests/conftest.py) so Django can
flush tables between transactional tests. Anyone able to set it on a real database
could drop the trigger anyway, so it weakens nothing.
"""

from django.db import migrations

INSTALL = """
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

CREATE TRIGGER registry_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON registry_auditevent
    FOR EACH ROW EXECUTE FUNCTION registry_audit_refuse_change();

CREATE TRIGGER registry_auditevent_no_truncate
    BEFORE TRUNCATE ON registry_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION registry_audit_refuse_change();
"""

REMOVE = """
DROP TRIGGER IF EXISTS registry_auditevent_no_truncate ON registry_auditevent;
DROP TRIGGER IF EXISTS registry_auditevent_no_update_delete ON registry_auditevent;
DROP FUNCTION IF EXISTS registry_audit_refuse_change();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
