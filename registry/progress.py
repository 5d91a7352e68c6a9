"""How far a long-running import has got, shared between the worker that runs it and
the page that shows it. Kept outside the database on purpose: the import's own
transaction hides its work until it commits, and a progress bar must move before."""

from __future__ import annotations

from django.core.cache import caches

_TTL = 24 * 3600


def _key(run_id: object) -> str:
    return f"nhi:import-progress:{run_id}"


def set_progress(run_id: object, done: int, total: int) -> None:
    caches["progress"].set(_key(run_id), (done, total), _TTL)


def get_progress(run_id: object) -> tuple[int, int] | None:
    value = caches["progress"].get(_key(run_id))
    return tuple(value) if value else None
