"""Fixtures of the API tests: a moment, three paths (own, other, unowned), signed-in
clients per persona, the payments team's integration token, a pipeline's registration
body, a pending transfer; and the authorization matrix's world."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from registry import services
from tests.api.authorization import World
from tests.api.helpers import DAY, TRANSFER_REASON, bearer, issue, session
from tests.conftest import build_personas, path_data


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def own(make_path, now):
    return make_path(now=now, name="own-export")


@pytest.fixture
def other(make_path, personas, now):
    return make_path(now=now, owner_team=personas.teams.data, name="data-loader")


@pytest.fixture
def unowned(make_path, personas, now):
    return make_path(
        now=now,
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
        name="found-in-aws",
    )


@pytest.fixture
def pat(personas):
    return session(personas.users.pat)


@pytest.fixture
def lee(personas):
    return session(personas.users.lee)


@pytest.fixture
def sam(personas):
    return session(personas.users.sam)


@pytest.fixture
def dana(personas):
    return session(personas.users.dana)


@pytest.fixture
def ci(personas):
    """The payments team's read+write integration token."""
    return bearer(issue(personas)[1])


@pytest.fixture
def pipeline_body(now):
    return path_data(
        external_id="arn:aws:iam::123:role/deployer",
        owner_team="payments",
        steward_team="platform",
        created_via="pipeline",
        created_by_ref="github-actions/deploy#42",
        tags=["soc2", "pci"],
        expires_at=(now + 60 * DAY).isoformat(),
        last_rotated_at=(now - DAY).isoformat(),
        rotation_days=30,
        credential_lifetime="short_lived",
    )


@pytest.fixture
def offer(personas, own):
    return services.path_transfer(
        actor=personas.lee, path=own, to_team=personas.teams.data, reason=TRANSFER_REASON
    )


# --- the authorization matrix (tests/api/authorization.py) ---------------------------


@pytest.fixture(scope="module")
def personas_once(django_db_setup, django_db_blocker):
    """The personas, built once per module inside a transaction that is rolled back
    afterwards; each cell runs in its own savepoint inside it (pytest-django's
    function-scoped `db`), so every cell starts from exactly this state."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_personas()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(personas_once, db) -> World:
    return World(personas_once)
