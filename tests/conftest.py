"""Shared fixtures: the personas of DESIGN.md and a controllable clock.

Redis: tests marked `redis` start their own redis-server on a free port (never the
machine's shared one); without the binary they skip, unless NHI_REQUIRE_REDIS=1 (CI).

Database passes: `make test` runs the suite on SQLite, then on PostgreSQL. Tests marked
`postgres` need PostgreSQL (triggers, row locks between connections); on SQLite they are
skipped with that reason. NHI_EXPECT_DB=postgresql (set by the PostgreSQL pass and by
CI) turns a run that silently fell back to SQLite into an error.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from registry import services
from registry.models import AccessPath, Membership, Team
from registry.rules.actors import Actor

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
TICKET = "https://tickets.example.com/browse/SEC-1234"
CHANGE_URL = "https://github.example.com/payments/infra/pull/412"
JUSTIFICATION = "The nightly billing export job reads invoices from the payments database."


@pytest.fixture(autouse=True)
def _private_anchor_sink(tmp_path_factory, settings):
    """Each test's audit anchors go to its own directory: a sink holds one chain."""
    settings.NHI_AUDIT_ANCHOR_DIR = tmp_path_factory.mktemp("anchors")


def pytest_collection_modifyitems(config, items):
    expected = os.environ.get("NHI_EXPECT_DB", "")
    if expected and expected != connection.vendor:
        pytest.exit(
            f"NHI_EXPECT_DB={expected} but DATABASE_URL selects {connection.vendor}: "
            "refusing to run (the PostgreSQL tests would silently not run).",
            returncode=3,
        )
    if shutil.which("redis-server") is None:
        if os.environ.get("NHI_REQUIRE_REDIS") == "1":
            pytest.exit("NHI_REQUIRE_REDIS=1 but redis-server is not installed.", returncode=3)
        skip_redis = pytest.mark.skip(reason="needs redis-server to start a private broker")
        for item in items:
            if "redis" in item.keywords:
                item.add_marker(skip_redis)
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass of make test")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Let Django flush the append-only audit table between transactional tests on
    PostgreSQL (see migration 0002); UPDATE and DELETE stay refused."""
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            with connection.cursor() as cursor:
                cursor.execute(
                    f'ALTER DATABASE "{connection.settings_dict["NAME"]}" '
                    "SET nhi.allow_audit_truncate = 'on'"
                )
            connection.close()
    yield


@dataclass
class Personas:
    teams: SimpleNamespace
    users: SimpleNamespace
    sam: Actor  # security, lead
    pat: Actor  # payments, member
    lee: Actor  # payments, lead
    dana: Actor  # data, member
    otto: Actor  # no team
    payments_ci: Actor  # an integration token acting for payments
    system: Actor


def build_personas(now: dt.datetime = NOW) -> Personas:
    system = Actor.system("test-setup")
    team_specs = [
        ("security", "Security", Team.Kind.SECURITY),
        ("platform", "Platform", Team.Kind.PLATFORM),
        ("payments", "Payments", Team.Kind.PRODUCT),
        ("data", "Data", Team.Kind.PRODUCT),
        ("growth", "Growth", Team.Kind.PRODUCT),
    ]
    teams = {
        slug: services.team_create(
            actor=system,
            data={"slug": slug, "name": name, "kind": kind, "email": f"{slug}@example.com"},
            now=now,
        )
        for slug, name, kind in team_specs
    }
    User = get_user_model()
    users = {
        name: User.objects.create_user(name, f"{name}@example.com", "nhi-demo-pass")
        for name in ("sam", "pat", "lee", "dana", "otto", "gwen")
    }
    for team, user, role in [
        ("security", "sam", Membership.Role.LEAD),
        ("payments", "pat", Membership.Role.MEMBER),
        ("payments", "lee", Membership.Role.LEAD),
        ("data", "dana", Membership.Role.MEMBER),
        ("growth", "gwen", Membership.Role.LEAD),
    ]:
        services.membership_add(
            actor=system, team=teams[team], user=users[user], role=role, now=now
        )
    return Personas(
        teams=SimpleNamespace(**teams),
        users=SimpleNamespace(**users),
        sam=Actor.for_user(users["sam"]),
        pat=Actor.for_user(users["pat"]),
        lee=Actor.for_user(users["lee"]),
        dana=Actor.for_user(users["dana"]),
        otto=Actor.for_user(users["otto"]),
        payments_ci=Actor.integration(teams["payments"], token_id="tok_test", name="ci"),
        system=system,
    )


@pytest.fixture
def personas(db) -> Personas:
    return build_personas()


def path_data(**overrides) -> dict:
    data = {
        "name": "billing-export",
        "kind": AccessPath.Kind.SERVICE_ACCOUNT,
        "system": "aws",
        "environment": AccessPath.Environment.PROD,
        "justification": JUSTIFICATION,
        "ticket_url": TICKET,
        "risk_tier": AccessPath.RiskTier.HIGH,
    }
    data.update(overrides)
    if data["kind"] == AccessPath.Kind.AGENT_CREDENTIAL:
        # An agent's credential is short-lived: a static one is refused by default
        # (posture nhi7_agent_static; tests/api/test_policy_at_request_time.py).
        data.setdefault("credential_lifetime", AccessPath.CredentialLifetime.SHORT_LIVED)
    owner = data.get("owner_team")
    if owner is not None and data["risk_tier"] in ("high", "critical"):
        # An owned high or critical path names who approved it (its team's lead).
        data.setdefault("approved_by", "lee")
        data.setdefault("approved_by_team", owner)
    if data.get("created_via") in ("pipeline", "ai_agent") and owner is not None:
        # Pipeline-made and AI-assisted access records its change (docs/provenance.md).
        data.setdefault("change_url", CHANGE_URL)
        data.setdefault("merged_by", "lee")
        data.setdefault("merged_by_team", owner)
        if data["created_via"] == "ai_agent":
            data.setdefault("proposed_by", "code-assistant 2.3")
    return data


@pytest.fixture
def make_path(personas):
    """Register a path through the service; owned by payments unless told otherwise."""
    counter = iter(range(1, 1_000_000))

    def make(*, actor=None, now=NOW, **overrides) -> AccessPath:
        overrides.setdefault("owner_team", personas.teams.payments)
        overrides.setdefault("external_id", f"ext-{next(counter)}")
        return services.path_register(
            actor=actor or personas.system, data=path_data(**overrides), now=now
        )

    return make


@pytest.fixture
def unowned_path(make_path, personas):
    return make_path(
        owner_team=None, steward_team=personas.teams.platform, justification="", ticket_url=""
    )


@pytest.fixture
def path(make_path) -> AccessPath:
    """An active high-risk path owned by payments, registered at NOW (90-day reviews)."""
    return make_path()


@pytest.fixture
def sid(personas) -> Actor:
    """A second security reviewer, to decide on requests sam made himself."""
    user = get_user_model().objects.create_user("sid", "sid@example.com", "x")
    services.membership_add(actor=personas.system, team=personas.teams.security, user=user, now=NOW)
    return Actor.for_user(user)
