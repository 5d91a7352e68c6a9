"""Many rows in one INSERT with one parameter (PostgreSQL): the rows as a JSON document
read back by `jsonb_to_recordset`.

A batch as VALUES tuples is one bound parameter per cell: a sweep's thousands of
notices were tens of thousands of parameters, which the driver quotes one by one (a
third of the sweep's time). COPY is faster still but runs outside Django's cursor: the
statement would be invisible to query counts and to execute wrappers (the tests that
make the database refuse a write). One JSON text per batch is neither.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Field, Model
from django.db.models.fields.related import RelatedField


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()  # full precision: timestamps in unique keys must match
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def rows_document(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The rows (values in `columns` order) as the JSON text recordset_insert_sql reads."""
    document = [
        {name: _plain(value) for name, value in zip(columns, row, strict=True)} for row in rows
    ]
    return json.dumps(document, cls=DjangoJSONEncoder)


def column_field(model: type[Model], name: str) -> Field[Any, Any]:
    """The field that stores column `name` (an attname: `team_id` for a relation,
    whose values are its target's)."""
    for found in model._meta.concrete_fields:
        if found.attname == name:
            return found.target_field if isinstance(found, RelatedField) else found
    raise TypeError(f"{name} is not a column of {model._meta.db_table}")


def recordset_insert_sql(
    model: type[Model], columns: Sequence[str], *, json_text: Sequence[str] = (), suffix: str = ""
) -> str:
    """INSERT INTO the model's table (columns) SELECT … FROM jsonb_to_recordset(%s) …
    `suffix`. A column in `json_text` arrives as JSON text and is stored as jsonb (the
    audit log's changes: the very text their hash was computed over). Only identifiers
    and column types go into the statement's text."""
    quote = connection.ops.quote_name
    types = []
    for name in columns:
        kind = "text" if name in json_text else column_field(model, name).db_type(connection)
        types.append(f"{quote(name)} {kind}")
    selected = ", ".join(
        f"{quote(name)}::jsonb" if name in json_text else quote(name) for name in columns
    )
    listed = ", ".join(quote(name) for name in columns)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({listed}) "  # noqa: S608
        f"SELECT {selected} FROM jsonb_to_recordset(%s::jsonb) AS r({', '.join(types)})"
        f"{suffix}"
    )
