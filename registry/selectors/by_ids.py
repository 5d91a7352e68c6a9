"""Reads of the rows that belong to a set of paths (a page's tags, an export chunk's
revoker teams), cheap to repeat (issue 15).

Asked with `path_id IN (%s, %s, ...)`, such a read costs Django more than PostgreSQL: the
statement is built and compiled anew for every call, and every id is prepared and quoted
on its own. On PostgreSQL the ids go as one `uuid[]` text parameter instead, so the
statement's text never changes and is compiled once per process. Elsewhere (SQLite,
development and tests) the queryset runs as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.models import F, Lookup, Q, QuerySet

from registry.models import AccessPath


class AnyUuid(Lookup):
    """`column = ANY(%s::uuid[])`, the ids one text parameter."""

    lookup_name = "any_uuid"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::uuid[])", [*params, uuid_array(self.rhs)]


def uuid_array(ids: Sequence[Any]) -> str:
    return "{" + ",".join(map(str, ids)) + "}"


# A builder's compiled statement and its fixed parameters, per database alias.
_COMPILED: dict[tuple[Callable[[Any], QuerySet], str], tuple[str, list[Any]]] = {}
_MARK = "{00000000-0000-0000-0000-000000000000}"


def rows_by_ids(
    build: Callable[[Any], QuerySet], column: str, ids: Sequence[Any], using: str = "default"
) -> list[tuple]:
    """The rows of `build(condition)` (a values_list queryset filtered by `condition`:
    `column` among `ids`), as tuples of the database's values. `build` must build the
    same statement at every call: only the ids change."""
    if not ids:
        return []
    if connections[using].vendor != "postgresql":
        return list(build(Q(**{f"{column}__in": ids})).using(using))
    compiled = _COMPILED.get((build, using))
    if compiled is None:
        query = build(AnyUuid(F(column), [_MARK[1:-1]])).query
        sql, params = query.get_compiler(using).as_sql()
        # The ids are the only parameter after the builder's own constants.
        if not params or params[-1] != _MARK:
            raise ValueError("rows_by_ids: the ids must be the statement's last parameter")
        compiled = _COMPILED[(build, using)] = (sql, list(params[:-1]))
    sql, fixed = compiled
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [*fixed, uuid_array(ids)])
        return cursor.fetchall()


# The builders a path's slugs are read with (the export's chunks, the API's pages).


def tag_slugs(condition: Any) -> QuerySet:
    """(path id, tag slug), by slug."""
    rows = AccessPath.tags.through.objects.filter(condition).order_by("tag__slug")
    return rows.values_list("accesspath_id", "tag__slug")


def revoker_slugs(condition: Any) -> QuerySet:
    """(path id, revoker team slug), by slug."""
    rows = AccessPath.revoker_teams.through.objects.filter(condition).order_by("team__slug")
    return rows.values_list("accesspath_id", "team__slug")
