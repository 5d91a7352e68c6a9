"""What a worker is doing for a page that waits on it, shared between the two: how far
a long-running import has got, and how a queued channel test-send went. Kept outside
the database on purpose: the import's own transaction hides its work until it commits,
and a progress bar must move before; a test-send's outcome is also audited, this is
only what the polling page reads."""

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


def _test_key(test_id: str) -> str:
    return f"nhi:channel-test:{test_id}"


def set_channel_test_state(test_id: str, state: dict) -> None:
    caches["progress"].set(_test_key(test_id), state, 3600)


def channel_test_state(test_id: str) -> dict | None:
    return caches["progress"].get(_test_key(test_id))
