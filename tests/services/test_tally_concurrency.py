"""Writers racing on twins keep the dashboard's tally exact and never deadlock
(PostgreSQL only: real connections, one per thread).

Reclassifying a written path also reclassifies its external-id twins, rows another
transaction may be writing at the same moment; the writers' lock
(registry/runtime/writer_lock.py) gives every writer one lock order.
"""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath
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
