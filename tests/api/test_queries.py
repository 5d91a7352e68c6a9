"""Every list endpoint runs the same number of queries for one row as for a full page of
200: selectors and viewsets load what serializers show up front (house rule 2), so no
list grows a query per row.

Rows are bulk-inserted (the services are not what is measured here) into a minimal
world: a security reviewer (sam) who sees everything and a payments member (pat) who
sees payments' rows, so the visibility filters run in both shapes.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from registry.audit import AuditEntry, audit_record_many
from registry.models import (
    AccessPath,
    Claim,
    Membership,
    Notification,
    PolicyException,
    Tag,
    Team,
    Transfer,
)
from registry.rules.actors import Actor

pytestmark = pytest.mark.django_db

PAGE = 200
JUSTIFICATION = "The nightly billing export job reads invoices from the payments database."
_ids = itertools.count(1)


@pytest.fixture
def world():
    """Teams and people made directly, so that no audit event or notification exists
    before a test adds its own rows."""
    now = timezone.now()

    def team(slug: str, kind: str = Team.Kind.PRODUCT) -> Team:
        return Team.objects.create(slug=slug, name=slug.title(), kind=kind, created_at=now,
                                   updated_at=now)  # fmt: skip

    teams = SimpleNamespace(
        security=team("security", Team.Kind.SECURITY),
        platform=team("platform", Team.Kind.PLATFORM),
        payments=team("payments"),
        data=team("data"),
    )
    users = SimpleNamespace()
    for name, slug, role in [
        ("sam", "security", Membership.Role.LEAD),
        ("pat", "payments", Membership.Role.MEMBER),
        ("dana", "data", Membership.Role.MEMBER),
    ]:
        user = get_user_model().objects.create_user(name, f"{name}@example.com")
        Membership.objects.create(user=user, team=getattr(teams, slug), role=role, started_at=now)
        setattr(users, name, user)
    tags = Tag.objects.bulk_create([Tag(slug="pci"), Tag(slug="soc2")])
    return SimpleNamespace(teams=teams, users=users, tags=tags, now=now)


def add_paths(world, n: int, *, owned: bool = True) -> list[AccessPath]:
    """n payments-owned paths (or n paths with a pending claim), each with two tags."""
    now = world.now
    paths = AccessPath.objects.bulk_create(
        [
            AccessPath(
                name=f"path-{i}",
                kind=AccessPath.Kind.SERVICE_ACCOUNT,
                system="aws",
                external_id=f"q-{i}",
                environment=AccessPath.Environment.PROD,
                owner_team=world.teams.payments if owned else None,
                steward_team=world.teams.platform,
                justification=JUSTIFICATION,
                risk_tier=AccessPath.RiskTier.HIGH,
                review_interval_days=90,
                state=AccessPath.State.ACTIVE if owned else AccessPath.State.CLAIM_PENDING,
                state_changed_at=now,
                next_review_at=now + dt.timedelta(days=90) if owned else None,
                expires_at=now + dt.timedelta(days=180) if owned else None,
                created_at=now,
                updated_at=now,
            )
            for i in itertools.islice(_ids, n)
        ]
    )
    Through = AccessPath.tags.through
    Through.objects.bulk_create(
        [Through(accesspath_id=p.pk, tag_id=t.pk) for p in paths for t in world.tags]
    )
    return paths


def add_claims(world, n: int) -> None:
    Claim.objects.bulk_create(
        Claim(
            path=path,
            team=world.teams.payments,
            requested_by=world.users.pat,
            requested_by_label="pat",
            reason="Our billing export job runs under this account every night.",
            created_at=world.now,
        )
        for path in add_paths(world, n, owned=False)
    )


def add_transfers(world, n: int) -> None:
    Transfer.objects.bulk_create(
        Transfer(
            path=path,
            from_team=world.teams.payments,
            to_team=world.teams.data,
            requested_by=world.users.pat,
            requested_by_label="pat",
            reason="The data team now runs the billing export pipeline.",
            created_at=world.now,
        )
        for path in add_paths(world, n)
    )


def add_exceptions(world, n: int) -> None:
    PolicyException.objects.bulk_create(
        PolicyException(
            path=path,
            rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
            reason="The vendor API offers no narrower scope until its next release.",
            expires_at=world.now + dt.timedelta(days=30),
            requested_by=world.users.pat,
            created_at=world.now,
        )
        for path in add_paths(world, n)
    )


def add_audit_events(world, n: int) -> None:
    with transaction.atomic():
        audit_record_many(
            actor=Actor.for_user(world.users.pat),
            now=world.now,
            entries=[
                AuditEntry(action="access_path.updated", obj=path, changes={"name": ["a", "b"]})
                for path in add_paths(world, n)
            ],
        )


def add_notifications(world, n: int) -> None:
    Notification.objects.bulk_create(
        Notification(
            team=world.teams.payments,
            path=path,
            reason="review_reminder",
            payload={"path": {"id": str(path.pk)}},
            cycle=world.now,
            next_attempt_at=world.now,
            created_at=world.now,
        )
        for path in add_paths(world, n)
    )


def add_teams(world, n: int) -> None:
    Team.objects.bulk_create(
        Team(
            slug=f"team-{i}",
            name=f"Team {i}",
            parent=world.teams.platform,
            created_at=world.now,
            updated_at=world.now,
        )
        for i in itertools.islice(_ids, n)
    )


# endpoint -> (basename, add n rows). The team directory also lists the world's own
# four teams: the one-row page of it is asked for with page_size=1.
LISTS = {
    "access-paths": ("access-path", add_paths),
    "claims": ("claim", add_claims),
    "transfers": ("transfer", add_transfers),
    "teams": ("team", add_teams),
    "exceptions": ("exception", add_exceptions),
    "audit-events": ("audit-event", add_audit_events),
    "notifications": ("notification", add_notifications),
}


def list_queries(client: APIClient, url: str, rows: int) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert "count" not in body
    assert len(body["results"]) == rows
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("persona", ["sam", "pat"])
@pytest.mark.parametrize("endpoint", list(LISTS))
def test_list_query_count_does_not_grow_with_rows(world, endpoint, persona):
    basename, add = LISTS[endpoint]
    client = APIClient()
    client.force_login(getattr(world.users, persona))
    url = reverse(f"{basename}-list")

    add(world, 1)
    one = list_queries(client, f"{url}?page_size=1", 1)
    add(world, PAGE - 1)
    full = list_queries(client, f"{url}?page_size={PAGE}", PAGE)

    assert len(full) == len(one), "\n".join(
        ["queries for one row:", *one, "", f"queries for {PAGE} rows:", *full]
    )
