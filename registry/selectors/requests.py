"""Claims, transfers, exceptions and change requests: who sees which, what waits."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import (
    ChangeRequest,
    Claim,
    PolicyException,
    Transfer,
)
from registry.rules.actors import Actor
from registry.selectors.paths import paths_visible_to


def visible_claims(*, actor: Actor) -> QuerySet[Claim]:
    """Claims on the paths the actor may see."""
    qs = Claim.objects.select_related("team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=paths_visible_to(actor))


def visible_transfers(*, actor: Actor) -> QuerySet[Transfer]:
    qs = Transfer.objects.select_related("from_team", "to_team").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=paths_visible_to(actor))


def visible_exceptions(*, actor: Actor) -> QuerySet[PolicyException]:
    qs = PolicyException.objects.select_related("requested_by").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=paths_visible_to(actor))


def transfers_waiting_for(*, actor: Actor) -> QuerySet[Transfer]:
    """Transfers offered to the actor's teams, oldest first."""
    return (
        Transfer.objects.filter(status=Transfer.Status.PENDING, to_team_id__in=actor.team_ids)
        .select_related("path", "from_team", "to_team")
        .order_by("created_at", "id")
    )


def pending_claims() -> QuerySet[Claim]:
    """Security's queue, oldest first (the claim_pending_age index)."""
    return (
        Claim.objects.filter(status=Claim.Status.PENDING)
        .select_related("path", "team")
        .order_by("created_at", "id")
    )


def pending_exceptions() -> QuerySet[PolicyException]:
    return (
        PolicyException.objects.filter(status=PolicyException.Status.PENDING)
        .select_related("path", "requested_by")
        .order_by("created_at", "id")
    )


def visible_change_requests(*, actor: Actor) -> QuerySet[ChangeRequest]:
    """Changes waiting for (or decided by) a second person, on paths the actor may see."""
    qs = ChangeRequest.objects.select_related("path", "decided_by").order_by("-created_at", "-id")
    return qs if actor.sees_everything else qs.filter(path__in=paths_visible_to(actor))
