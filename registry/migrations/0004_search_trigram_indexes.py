"""On PostgreSQL, trigram indexes for the inventory's `q` search.

`q` matches name, external id and justification with icontains, which Django writes as
UPPER(col::text) LIKE UPPER('%term%'): no B-tree can serve a leading wildcard, so
without these each search reads the whole table. GIN indexes over the same UPPER(...)
expressions with pg_trgm's operator class serve it directly. pg_trgm is a trusted
extension (PostgreSQL 13+), so the database's owner can install it. SQLite has no
equivalent; there the search scans, which is fine at SQLite's scale.
"""

from django.db import migrations

COLUMNS = ("name", "external_id", "justification")

INSTALL = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
    f"CREATE INDEX IF NOT EXISTS path_{column}_trgm ON registry_accesspath "
    f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
    for column in COLUMNS
]
REMOVE = [f"DROP INDEX IF EXISTS path_{column}_trgm" for column in COLUMNS]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in INSTALL:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in REMOVE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_api_tokens_and_tags")]
    operations = [migrations.RunPython(install, remove)]
