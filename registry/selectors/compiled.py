"""Queries compiled once per process and moved in time by shifting their parameters.

Some reads build a large expression for a moment `now` (the dashboard's exact facts:
two dozen CASE expressions of rules/facts.py, some 11,000 characters of SQL and 240
parameters). Building and compiling it through the ORM took 20-60 ms of Python a
request, for a statement that runs in a few milliseconds. Its SQL text does not depend
on `now`; only some parameters do, each `now` plus or minus a fixed interval.

`time_shifted(key, build, now)` compiles `build(now)` the first time, with two other
moments to learn which parameters move with time, and checks the lesson: the SQL must
be identical at all three moments and each parameter either the same at all three or a
date-time that moved exactly as far as `now` did. Then any later `now` gets the cached
SQL with the moving parameters shifted, which is exactly what compiling would give.
On SQLite a date-time parameter is already text (Django's SQLite backend passes naive
UTC `str(datetime)`); such text is read back, shifted and written the same way.
A build that does not pass the check (a date, a rounded day, a text made from the
time) is compiled at every call instead: slower, never wrong.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

# The other moments a build is compiled at to learn its parameters: far enough apart
# that no boundary of a day, a week or a month is shared by accident.
_PROBES = (dt.timedelta(days=1, seconds=1), dt.timedelta(days=37, hours=7, seconds=13))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    at: dt.datetime
    params: tuple[Any, ...]
    moving: frozenset[int]

    def at_time(self, now: dt.datetime) -> tuple[str, list[Any]]:
        shift = now - self.at
        params = [
            _shifted(value, shift) if index in self.moving else value
            for index, value in enumerate(self.params)
        ]
        return self.sql, params


def _as_moment(value: Any) -> dt.datetime | None:
    """A parameter as the moment it stands for: a date-time, or SQLite's text of one."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    # Only text exactly as the SQLite backend writes a date-time, so writing it back
    # after a shift gives what compiling would.
    return moment if moment.tzinfo is None and str(moment) == value else None


def _shifted(value: Any, shift: dt.timedelta) -> Any:
    if isinstance(value, str):
        return str(dt.datetime.fromisoformat(value) + shift)
    return value + shift


_cache: dict[Hashable, _Compiled | None] = {}
_lock = threading.Lock()


def _compile(build: Callable[[dt.datetime], QuerySet], now: dt.datetime) -> tuple[str, tuple]:
    sql, params = build(now).query.sql_with_params()
    return sql, tuple(params)


def _moving(
    base: Sequence[Any], probes: Sequence[tuple[dt.timedelta, Sequence[Any]]]
) -> frozenset[int] | None:
    """The parameters that move with time, or None if any moves otherwise."""
    moving = set()
    for index, value in enumerate(base):
        if all(params[index] == value for _, params in probes):
            continue
        if _as_moment(value) is None:
            return None
        if any(params[index] != _shifted(value, shift) for shift, params in probes):
            return None
        moving.add(index)
    return frozenset(moving)


def _learn(build: Callable[[dt.datetime], QuerySet], now: dt.datetime) -> _Compiled | None:
    sql, params = _compile(build, now)
    probes = []
    for shift in _PROBES:
        probe_sql, probe_params = _compile(build, now + shift)
        if probe_sql != sql or len(probe_params) != len(params):
            return None
        probes.append((shift, probe_params))
    moving = _moving(params, probes)
    if moving is None:
        return None
    return _Compiled(sql=sql, at=now, params=params, moving=moving)


def time_shifted(
    key: Hashable, build: Callable[[dt.datetime], QuerySet], now: dt.datetime
) -> tuple[str, list[Any]]:
    """`build(now)`'s SQL and parameters, compiled once per `key` for every `now`. The
    key must capture everything besides `now` that the build depends on (the policy,
    the rules' version)."""
    with _lock:
        known = key in _cache
        compiled = _cache.get(key)
    if not known:
        compiled = _learn(build, now)
        with _lock:
            _cache[key] = compiled
    if compiled is None:
        sql, params = _compile(build, now)
        return sql, list(params)
    return compiled.at_time(now)
