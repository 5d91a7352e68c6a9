"""Every path has its PathFacts row, and a write to a column the facts are computed from
makes them run out, whoever writes it.

- Existing paths get a row whose facts ran out long ago (reads count them directly
  until the sweep or `manage.py tally --rebuild` computes them).
- A new path gets such a row (an INSERT trigger: services, imports, a bulk COPY alike).
- A write to one of FACT_INPUTS makes the row's facts run out. The services reclassify
  in the same transaction; this catches any other write (an operator's SQL, a bulk
  statement) for the row itself.

On SQLite a migration that rebuilds registry_accesspath (most AlterField operations)
drops its triggers: such a migration must come before this one or install them again
(tests/rules/test_facts_inputs.py fails otherwise).

FACT_INPUTS is rules.facts.FACT_INPUTS as of this migration (frozen, as migrations are);
tests/rules/test_facts_inputs.py fails when the rules read a column it lacks.
"""

from django.db import migrations

FACT_INPUTS = (
    "system", "external_id", "environment", "owner_team_id", "steward_team_id",
    "created_by_ref", "consumers", "ticket_url", "artifact_ref", "justification",
    "privilege_scope", "risk_tier", "data_classification", "credential_lifetime",
    "rotation_days", "last_rotated_at", "last_used_at", "rotation_due_at", "broad_scope",
    "several_consumers", "interactive_login", "not_seen_since", "revocation_plan",
    "approved_by", "approved_by_team_id", "iam_team_id", "pam_team_id", "secops_team_id",
    "source_disabled_at", "expires_at", "last_attested_at", "next_review_at", "state",
)  # fmt: skip
COLUMNS = ", ".join(FACT_INPUTS)
NEW_FACTS = "team_key, status, flags, quality, valid_until"

# Only constants are interpolated into these statements.
BACKFILL_POSTGRES = f"""
INSERT INTO registry_pathfacts (path_id, {NEW_FACTS})
SELECT id, 0, '', 0, 0, '2000-01-01 00:00:00+00' FROM registry_accesspath
ON CONFLICT (path_id) DO NOTHING;
"""  # noqa: S608
POSTGRES_INSTALL = f"""
CREATE FUNCTION registry_path_facts_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO registry_pathfacts (path_id, {NEW_FACTS})
    SELECT id, 0, '', 0, 0, '2000-01-01 00:00:00+00' FROM added
    ON CONFLICT (path_id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_path_facts_add
    AFTER INSERT ON registry_accesspath
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION registry_path_facts_add();

CREATE FUNCTION registry_path_facts_run_out() RETURNS trigger AS $$
BEGIN
    UPDATE registry_pathfacts SET valid_until = '2000-01-01 00:00:00+00'
    WHERE path_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_path_facts_run_out
    AFTER UPDATE OF {COLUMNS} ON registry_accesspath
    FOR EACH ROW EXECUTE FUNCTION registry_path_facts_run_out();
"""  # noqa: S608
POSTGRES_REMOVE = """
DROP TRIGGER IF EXISTS registry_path_facts_run_out ON registry_accesspath;
DROP FUNCTION IF EXISTS registry_path_facts_run_out();
DROP TRIGGER IF EXISTS registry_path_facts_add ON registry_accesspath;
DROP FUNCTION IF EXISTS registry_path_facts_add();
"""
# SQLite stores datetimes as text in this format.
SQLITE_STATEMENTS = [
    f"""INSERT OR IGNORE INTO registry_pathfacts (path_id, {NEW_FACTS})
    SELECT id, 0, '', 0, 0, '2000-01-01 00:00:00' FROM registry_accesspath""",  # noqa: S608
    f"""CREATE TRIGGER registry_path_facts_add AFTER INSERT ON registry_accesspath
    FOR EACH ROW BEGIN
        INSERT OR IGNORE INTO registry_pathfacts (path_id, {NEW_FACTS})
        VALUES (NEW.id, 0, '', 0, 0, '2000-01-01 00:00:00');
    END""",  # noqa: S608
    f"""CREATE TRIGGER registry_path_facts_run_out AFTER UPDATE OF {COLUMNS}
    ON registry_accesspath FOR EACH ROW BEGIN
        UPDATE registry_pathfacts SET valid_until = '2000-01-01 00:00:00'
        WHERE path_id = NEW.id;
    END""",  # noqa: S608
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS registry_path_facts_run_out",
    "DROP TRIGGER IF EXISTS registry_path_facts_add",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(BACKFILL_POSTGRES)
        schema_editor.execute(POSTGRES_INSTALL)
    elif vendor == "sqlite":
        for statement in SQLITE_STATEMENTS:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_REMOVE)
    elif vendor == "sqlite":
        for statement in SQLITE_REMOVE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("registry", "0015_path_indexes_for_a_million")]
    operations = [migrations.RunPython(install, remove)]
