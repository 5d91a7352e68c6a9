import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from registry.audit import verify_chain
from registry.models import AccessPath, AuditEvent, Claim, Membership, Team, Transfer
from registry.rules.actors import Actor
from registry.rules.status import Status
from registry.selectors import path_queryset

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def test_teams_users_and_roles(seeded):
    kinds = dict(Team.objects.values_list("slug", "kind"))
    assert kinds == {
        "security": "security", "platform": "platform", "payments": "product",
        "data": "product", "growth": "product", "cloud-iam": "iam", "pam": "pam",
    }  # fmt: skip
    roles = set(
        Membership.objects.filter(ended_at__isnull=True).values_list(
            "user__username", "team__slug", "role"
        )
    )
    assert roles == {
        ("sam", "security", "lead"), ("pat", "payments", "member"),
        ("lee", "payments", "lead"), ("dana", "data", "member"),
    }  # fmt: skip
    otto = get_user_model().objects.get(username="otto")
    assert not otto.memberships.exists()
    for username in ("sam", "pat", "lee", "dana", "otto"):
        assert get_user_model().objects.get(username=username).check_password("nhi-demo-pass")


def test_a_few_hundred_paths_in_every_status_kind_and_tier(seeded):
    paths = path_queryset(actor=Actor.system())
    assert 200 <= paths.count() <= 500
    assert set(paths.values_list("status", flat=True)) == set(Status.values)
    assert set(paths.values_list("kind", flat=True)) == set(AccessPath.Kind.values)
    assert set(paths.values_list("risk_tier", flat=True)) == set(AccessPath.RiskTier.values)
    assert set(paths.values_list("environment", flat=True)) == set(AccessPath.Environment.values)
    assert Claim.objects.filter(status="pending").exists()
    assert Transfer.objects.filter(status="pending").exists()
    assert verify_chain().intact


def test_the_demo_history_dates_lapses_when_they_happened(seeded):
    """seed_demo sweeps once, so the lapsed chart is right from the first page view: each
    lapse is recorded with the moment it happened, weeks before the seeding."""
    lapses = AuditEvent.objects.filter(action="access_path.lapsed")
    assert lapses.exists()
    moments = {dt.datetime.fromisoformat(e.changes["lapsed_at"][1]) for e in lapses}
    assert min(moments) < timezone.now() - dt.timedelta(days=7)


def test_second_run_changes_nothing(seeded):
    before = (AccessPath.objects.count(), AuditEvent.objects.count(), Claim.objects.count())
    versions = dict(AccessPath.objects.values_list("id", "version"))
    call_command("seed_demo", verbosity=0)
    assert (AccessPath.objects.count(), AuditEvent.objects.count(), Claim.objects.count()) == (
        before
    )
    assert dict(AccessPath.objects.values_list("id", "version")) == versions


def test_without_debug_demo_users_get_no_password(settings):
    settings.DEBUG = False
    call_command("seed_demo", verbosity=0)
    assert not get_user_model().objects.get(username="pat").has_usable_password()
