"""Vacuum the facts table early (PostgreSQL). Every write to a path rewrites its facts
row, and each old version leaves an index entry under facts_valid_until that reads
for "facts run out by now" visit until a vacuum removes it; the table is narrow, so
vacuuming it often is cheap (the default waits for a fifth of the rows to change)."""

from django.db import migrations

TUNE = """
ALTER TABLE registry_pathfacts SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_analyze_threshold = 1000
);
"""
RESET = """
ALTER TABLE registry_pathfacts RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_analyze_scale_factor, autovacuum_analyze_threshold
);
"""


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TUNE)


def reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESET)


class Migration(migrations.Migration):
    dependencies = [("registry", "0016_path_facts_triggers")]
    operations = [migrations.RunPython(tune, reset)]
