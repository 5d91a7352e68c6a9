"""Writers racing on twins keep the dashboard's tally exact and never deadlock
(PostgreSQL only: real connections, one per thread).

Reclassifying a written path also reclassifies its external-id twins, rows another
transaction may be writing at the same moment; the writers' lock
(registry/runtime/writer_lock.py) gives every writer one lock order.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from registry import services
from registry.models import AccessPath, Membership
from tests.conftest import NOW, path_data
from tests.selectors.test_tally_exact import direct_groups, tallied_groups
from tests.services.test_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REASON = "Moved to workload identity; the old credential is no longer used."


def _writers(personas, twins, round_, later):
    """Three writers on three twins: each reclassifies the other two."""
    return [
        lambda: services.path_update(
            actor=personas.sam,
            path=AccessPath.objects.get(pk=twins[0].pk),
            changes={"environment": ["dev", "prod"][round_ % 2]},
            reason=REASON,
            now=later,
        ),
        lambda: services.path_update(
            actor=personas.sam,
            path=AccessPath.objects.get(pk=twins[1].pk),
            changes={"privilege_scope": ["AdministratorAccess", "read-only"][round_ % 2]},
            reason=REASON,
            now=later,
        ),
        lambda: services.path_attest(
            actor=personas.pat,
            path=AccessPath.objects.get(pk=twins[2].pk),
            decision="keep",
            still_needed=True,
            justification_accurate=True,
            least_privilege=True,
            no_human_use=True,
            now=later,
        ),
    ]


def test_twins_written_at_once_stay_exact_and_nobody_deadlocks(personas):
    twins = []
    for system, environment in (("aws", "prod"), ("gcp", "dev"), ("github", "staging")):
        data = path_data(
            owner_team=personas.teams.payments,
            system=system,
            environment=environment,
            external_id="svc-shared",
        )
        twins.append(services.path_register(actor=personas.system, data=data, now=NOW))
    for round_ in range(4):
        later = NOW.replace(hour=13 + round_)
        outcomes = race(*_writers(personas, twins, round_, later))
        assert all(outcome.won for outcome in outcomes), outcomes
        assert tallied_groups(personas.sam, later) == direct_groups(personas.sam, later)
    services.path_revoke(actor=personas.sam, path=twins[0], reason=REASON, now=later)
    assert tallied_groups(personas.sam, later) == direct_groups(personas.sam, later)


def test_the_last_two_members_leaving_at_once_lapse_the_teams_paths(personas, make_path):
    """Each leaver must see whether the other left: the emptiness check runs under the
    writers' lock, so the second one finds the team empty and reclassifies its paths."""
    growth = personas.teams.growth
    make_path(owner_team=growth)
    user = get_user_model().objects.create_user("gina", "gina@example.com", "x")
    services.membership_add(actor=personas.system, team=growth, user=user, now=NOW)
    members = list(Membership.objects.filter(team=growth, ended_at__isnull=True))
    assert len(members) == 2
    outcomes = race(*(_leaver(personas, membership) for membership in members))
    assert all(outcome.won for outcome in outcomes), outcomes
    assert not Membership.objects.filter(team=growth, ended_at__isnull=True).exists()
    groups = tallied_groups(personas.sam, NOW)
    assert groups == direct_groups(personas.sam, NOW)
    assert groups[growth.pk]["status_lapsed"] == 1


def _leaver(personas, membership):
    return lambda: services.membership_end(
        actor=personas.system, membership=membership, reason=REASON, now=NOW
    )
