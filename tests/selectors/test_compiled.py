"""Queries compiled once and moved in time (registry/selectors/compiled.py): the shifted
SQL and parameters are exactly what compiling at that moment gives, and a build whose
parameters do not move with time is compiled every time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q

from registry.models import AccessPath
from registry.rules.facts import facts_expressions
from registry.rules.policies import current_policy
from registry.selectors import compiled
from registry.selectors.compiled import time_shifted
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    compiled._cache.clear()
    yield
    compiled._cache.clear()


def facts_query(now: dt.datetime):
    facts = facts_expressions(now=now, policy=current_policy())
    return AccessPath.objects.order_by().annotate(**facts).values(*facts)


@pytest.mark.parametrize(
    "later",
    [dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(days=400, microseconds=7)],
)
def test_the_facts_moved_in_time_are_what_compiling_then_gives(later):
    time_shifted("facts", facts_query, NOW)  # learnt at NOW
    sql, params = time_shifted("facts", facts_query, NOW + later)
    fresh_sql, fresh_params = facts_query(NOW + later).query.sql_with_params()
    assert sql == fresh_sql
    assert params == list(fresh_params)
    # Date-times move on both databases: PostgreSQL's stay date-times, SQLite's are text.
    assert compiled._cache["facts"] is not None
    assert compiled._cache["facts"].moving


def test_sqlite_text_of_a_whole_second_is_written_as_the_backend_writes_it():
    learnt_at = NOW + dt.timedelta(microseconds=250_000)
    time_shifted("facts", facts_query, learnt_at)
    sql, params = time_shifted("facts", facts_query, NOW)
    fresh_sql, fresh_params = facts_query(NOW).query.sql_with_params()
    assert (sql, params) == (fresh_sql, list(fresh_params))
    if connection.vendor == "sqlite":
        assert "2026-11-22 12:00:00" in params  # no fraction, as str(datetime) writes it


def test_a_build_with_a_parameter_that_does_not_move_with_time_is_compiled_each_time():
    def by_day(now: dt.datetime):  # a date, not a moment: cannot be shifted
        return AccessPath.objects.filter(Q(created_at__date__gte=now.date()))

    time_shifted("by-day", by_day, NOW)
    assert compiled._cache["by-day"] is None
    later = NOW + dt.timedelta(days=3, hours=20)
    sql, params = time_shifted("by-day", by_day, later)
    fresh_sql, fresh_params = by_day(later).query.sql_with_params()
    assert (sql, params) == (fresh_sql, list(fresh_params))


def test_a_build_whose_text_changes_with_time_is_compiled_each_time():
    def odd(now: dt.datetime):
        qs = AccessPath.objects.filter(created_at__lte=now)
        return qs.filter(name="x") if now.day % 2 else qs

    time_shifted("odd", odd, NOW)
    assert compiled._cache["odd"] is None
