"""Helpers shared by the team and membership service tests (tests/services/test_teams.py,
tests/services/test_memberships.py)."""

from __future__ import annotations

import datetime as dt

from registry.models import AccessPath, Membership
from registry.rules import errors
from registry.rules.actors import Actor
from registry.selectors import path_get
from tests.conftest import NOW

DAY = dt.timedelta(days=1)
LATER = NOW + DAY
OFFBOARD = "Payments merged into the commerce team (ORG-77)."
NEW_TEAM = {"slug": "commerce", "name": "Commerce", "kind": "product", "email": "c@example.com"}
CHOOSE_A_ROLE = "Choose one of: member, lead."


# --- helpers ------------------------------------------------------------------------


def status_of(personas, path: AccessPath, now: dt.datetime = LATER) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=now).status


def fresh(user) -> Actor:
    """A new request's actor: roles read again after memberships changed."""
    return Actor.for_user(user)


def actor_named(personas, who: str) -> Actor:
    if who == "gwen":  # growth's lead: a lead, but of another team
        return fresh(personas.users.gwen)
    if who == "security_ci":  # a token of the security team is still not a person
        return Actor.integration(personas.teams.security, token_id="tok_sec", name="scanner")
    return getattr(personas, who)


def membership(personas, user: str, team: str = "payments") -> Membership:
    return Membership.objects.get(
        user=getattr(personas.users, user),
        team=getattr(personas.teams, team),
        ended_at__isnull=True,
    )


NON_ADMINS = ["pat", "lee", "dana", "otto", "gwen", "payments_ci", "security_ci"]
# Who may not manage payments' details and members, and why.
NOT_PAYMENTS_LEADS = [
    ("pat", errors.NOT_A_LEAD),
    ("dana", errors.NOT_A_LEAD),
    ("otto", errors.NOT_A_LEAD),
    ("gwen", errors.NOT_A_LEAD),
    ("payments_ci", errors.HUMAN_REQUIRED),
    ("security_ci", errors.HUMAN_REQUIRED),
]
