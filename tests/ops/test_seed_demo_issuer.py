"""seed_demo's just-in-time issuer: a Vault role with a few hundred leases, one over its
maximum (flagged in posture), never a path per lease; a second run adds nothing."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry.models import AccessPath, AuditEvent, Lease, LeaseHour, PolicyException
from registry.rules.policies import current_policy
from registry.rules.posture import violation_q

pytestmark = pytest.mark.django_db


def test_the_demo_issuer_and_its_leases(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    issuer = AccessPath.objects.get(external_id="demo-vault-role-payments-deploy")
    assert (issuer.issuer_kind, issuer.max_lease_seconds) == ("vault_role", 3600)
    assert Lease.objects.filter(issuer=issuer).count() == 300
    assert sum(LeaseHour.objects.filter(issuer=issuer).values_list("leases", flat=True)) == 300
    over = violation_q(
        PolicyException.Rule.NHI7_LEASE_OVER_MAX, now=timezone.now(), policy=current_policy()
    )
    assert list(AccessPath.objects.filter(over).values_list("pk", flat=True)) == [issuer.pk]
    paths, events = AccessPath.objects.count(), AuditEvent.objects.count()
    call_command("seed_demo", verbosity=0)
    assert Lease.objects.count() == 300
    assert AccessPath.objects.count() == paths
    assert AuditEvent.objects.filter(action="leases.recorded").count() == 1
    assert AuditEvent.objects.count() >= events
