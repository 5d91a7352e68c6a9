"""Security's queue of downstream revocations that need a look: paths revoked or expired
here whose credential nobody has confirmed disabled at the source within
`Policy.source_confirmation_hours`, and paths a full sync still lists after they were
retired. The queue page and the sweep's notices (services/source_sweep.py) use the same
predicates, so what security is told and what the page lists cannot disagree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from registry.models import AccessPath
from registry.rules.policies import Policy
from registry.rules.status import unconfirmed_q

QUEUE_SIZE = 50


def still_listed_q() -> Q:
    """A full sync still listed the credential after it was retired here (and nobody has
    confirmed it disabled since). Served by the partial index path_still_listed."""
    return Q(source_still_listed_at__isnull=False)


@dataclass(frozen=True)
class SourceQueue:
    unconfirmed: list[AccessPath]
    unconfirmed_count: int
    still_listed: list[AccessPath]
    still_listed_count: int


def source_queue(*, now: dt.datetime, policy: Policy, size: int = QUEUE_SIZE) -> SourceQueue:
    """The oldest `size` of each list and how many there are: four indexed queries."""
    base: QuerySet[AccessPath] = AccessPath.objects.select_related("owner_team", "steward_team")
    unconfirmed = base.filter(unconfirmed_q(now, policy))
    listed = base.filter(still_listed_q())
    return SourceQueue(
        unconfirmed=list(unconfirmed.order_by("state_changed_at", "id")[:size]),
        unconfirmed_count=unconfirmed.count(),
        still_listed=list(listed.order_by("source_still_listed_at", "id")[:size]),
        still_listed_count=listed.count(),
    )
