"""How often one caller may ask (the one home of the budgets, pages and API alike).

A budget belongs to whoever is behind the request, not to the credential: a person's
session and all of that person's tokens share one; all of a team's integration tokens
share the team's; an anonymous caller is counted by source address. Minting more tokens
buys nothing.

Counts live in the "ratelimit" cache, shared by every process (Redis when REDIS_URL is
set; files under var/ otherwise), as fixed one-minute windows: `add` then `incr`,
which Redis does atomically, so three gunicorn workers count one budget, not three.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

from registry.runtime.current_request import source_address

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Caller:
    key: str  # "user:7", "team:3", "anon:203.0.113.9"
    per_minute: int


def caller_for(request, token=None) -> Caller:
    """Whose budget a request spends. `token`: the API token that authenticated it."""
    user = getattr(request, "user", None)
    if token is not None and getattr(token, "team_id", None):
        return Caller(f"team:{token.team_id}", settings.NHI_RATE_PER_TEAM)
    if token is not None and getattr(token, "user_id", None):
        return Caller(f"user:{token.user_id}", settings.NHI_RATE_PER_PERSON)
    if user is not None and user.is_authenticated:
        return Caller(f"user:{user.pk}", settings.NHI_RATE_PER_PERSON)
    return Caller(f"anon:{source_address(request) or 'unknown'}", settings.NHI_RATE_ANONYMOUS)


def spend(caller: Caller, *, now: float | None = None) -> int | None:
    """Count one request; None when within budget, else the seconds until the next
    window (for Retry-After)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"rate:{caller.key}:{window}"
    cache = caches["ratelimit"]
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts the window
        cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    if count <= caller.per_minute:
        return None
    return max(1, (window + 1) * WINDOW_SECONDS - int(now))
