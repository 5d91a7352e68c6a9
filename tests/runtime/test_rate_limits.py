"""Request budgets that hold (registry/runtime/rate_limits.py): per person across pages, the
API and every personal token; per team across all its tokens; counted in a store every
process shares, so several workers do not multiply a budget."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from registry import services
from registry.rules.actors import Actor
from registry.runtime.rate_limits import Caller, spend
from tests.conftest import NOW
from tests.support_processes import PrivateRedis

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def _small_budgets(settings):
    settings.NHI_RATE_PER_PERSON = LIMIT
    settings.NHI_RATE_PER_TEAM = LIMIT
    settings.NHI_RATE_ANONYMOUS = LIMIT
    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


def token_for(personas, *, team=None, user=None, name="ci", lead=None) -> str:
    _, raw = services.token_create(
        actor=lead or (personas.lee if team else personas.pat),
        name=name,
        team=team,
        user=user,
        scopes=["read"],
        now=NOW,
    )
    return raw


def api_get(raw: str):
    return APIClient().get("/api/v1/access-paths/", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_more_team_tokens_buy_nothing(personas):
    tokens = [token_for(personas, team=personas.teams.payments, name=f"ci-{i}") for i in range(3)]
    statuses = [api_get(tokens[i % 3]).status_code for i in range(LIMIT + 3)]
    assert statuses[:LIMIT] == [200] * LIMIT
    assert set(statuses[LIMIT:]) == {429}
    refused = api_get(tokens[0])
    assert int(refused["Retry-After"]) >= 1
    # another team's budget is its own
    other = token_for(
        personas,
        team=personas.teams.growth,
        name="ci-growth",
        lead=Actor.for_user(personas.users.gwen),
    )
    assert api_get(other).status_code == 200


def test_a_person_has_one_budget_for_pages_and_api(personas):
    page = Client()
    page.force_login(personas.users.pat)
    api = APIClient()
    api.force_authenticate(personas.users.pat)
    statuses = [page.get("/paths/").status_code for _ in range(3)]
    statuses += [api.get("/api/v1/access-paths/").status_code for _ in range(2)]
    assert statuses == [200] * LIMIT
    assert page.get("/paths/").status_code == 429
    assert api.get("/api/v1/access-paths/").status_code == 429
    # someone else is not slowed down
    other = Client()
    other.force_login(personas.users.dana)
    assert other.get("/paths/").status_code == 200


def test_anonymous_callers_are_counted_by_address(personas):
    here = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [here.get("/login/").status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    assert Client(REMOTE_ADDR="198.51.100.7").get("/login/").status_code == 200


@pytest.mark.redis
def test_the_budget_is_shared_between_processes_through_redis(settings, tmp_path):
    """Two threads with their own Redis connections stand in for two gunicorn
    workers: together they get the budget once."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    shared = {
        **settings.CACHES,
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
        },
    }
    results: list[int | None] = []
    try:
        with override_settings(CACHES=shared):
            caller = Caller("team:42", LIMIT)
            lock = threading.Lock()

            def worker() -> None:
                for _ in range(LIMIT):
                    outcome = spend(caller, now=1_000_000.0)
                    with lock:
                        results.append(outcome)

            threads = [threading.Thread(target=worker) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
    finally:
        server.stop()
    assert len(results) == 3 * LIMIT
    assert results.count(None) == LIMIT
