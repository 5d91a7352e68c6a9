""" "My work": what needs each persona now, counted in a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.models import Incident, PolicyException
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.selectors.my_work import CAP, claim_queue, my_work, violations_of
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
CLAIM_REASON = "The payments nightly jobs run under this identity."


def build(personas, make_path, n: int) -> None:
    """n of each kind of work: payments' due paths (half needing a lead's sign-off),
    claims by pat, transfers to data, open incidents, exceptions ending soon."""
    teams = personas.teams
    for i in range(n):
        # High risk: a 90-day review, so registered 100 days ago it is overdue.
        make_path(name=f"due-{i}", now=NOW - 100 * DAY, requires_human_signoff=bool(i % 2))
        unowned = make_path(
            name=f"unowned-{i}",
            owner_team=None,
            steward_team=teams.platform,
            justification="",
            ticket_url="",
        )
        services.path_claim(
            actor=personas.pat, path=unowned, team=teams.payments, reason=CLAIM_REASON, now=NOW
        )
        offered = make_path(name=f"offered-{i}")
        services.path_transfer(
            actor=personas.lee, path=offered, to_team=teams.data, reason="Data runs it.", now=NOW
        )
        services.incident_open(
            actor=personas.pat, path=offered, summary="Pasted in a public gist.", now=NOW
        )
        waived = make_path(name=f"waived-{i}", privilege_scope="AdministratorAccess")
        exception = services.exception_request(
            actor=personas.pat,
            path=waived,
            rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
            reason="The vendor offers no narrower role until the Q3 migration.",
            expires_at=NOW + 7 * DAY,
            now=NOW,
        )
        services.exception_approve(actor=personas.sam, exception=exception, now=NOW)


def work(actor):
    return my_work(actor=actor, now=NOW, policy=current_policy())


def test_each_persona_sees_what_waits_for_them(personas, make_path):
    build(personas, make_path, 2)

    pat, lee, dana, sam, otto = (
        work(a) for a in (personas.pat, personas.lee, personas.dana, personas.sam, personas.otto)
    )

    # pat: his team's due reviews, incidents and exceptions; no claims (not security),
    # no sign-offs (not a lead), no transfers (offered to data).
    assert (pat.reviews_due, pat.claims, pat.signoffs, pat.transfers) == (2, None, 0, 0)
    assert (pat.incidents, pat.exceptions_expiring) == (2, 2)
    assert pat.security is None
    # lee leads payments: the path that needs a lead's sign-off waits for him.
    assert (lee.reviews_due, lee.signoffs) == (2, 1)
    assert [p.name for p in lee.signoff_paths] == ["due-1"]
    # dana: the transfers offered to data; nothing of payments'.
    assert (dana.transfers, dana.reviews_due, dana.exceptions_expiring) == (2, 0, 0)
    # sam decides the claims and sees security's queues; he asked for none of them.
    assert sam.claims == 2
    assert sam.security is not None
    assert (sam.security.claims, sam.security.exceptions) == (2, 0)
    assert sam.incidents == 2 and sam.exceptions_expiring == 2
    # otto is in no team: nothing.
    assert otto.total == 0 and otto.claims is None


def test_a_reviewer_is_not_asked_to_decide_his_own_claim(personas, make_path, sid):
    unowned = make_path(
        owner_team=None, steward_team=personas.teams.platform, justification="", ticket_url=""
    )
    services.path_claim(
        actor=personas.sam,
        path=unowned,
        team=personas.teams.security,
        reason=CLAIM_REASON,
        now=NOW,
    )

    assert work(personas.sam).claims == 0
    assert work(sid).claims == 1
    (row,) = claim_queue(actor=personas.sam, now=NOW, policy=current_policy(), size=50)
    assert not row.may_decide and row.refusal


def test_a_closed_incident_and_an_exception_ending_later_are_not_work(personas, make_path):
    build(personas, make_path, 1)
    incident = Incident.objects.get()
    services.incident_contain(actor=personas.lee, incident=incident, now=NOW)
    services.incident_close(
        actor=personas.lee,
        incident=Incident.objects.get(),
        reason="Rotated and confirmed.",
        now=NOW,
    )
    PolicyException.objects.update(expires_at=NOW + 30 * DAY)

    pat = work(personas.pat)

    assert (pat.incidents, pat.exceptions_expiring) == (0, 0)


def test_counts_stop_at_the_cap(personas, make_path):
    """A count past CAP reads "CAP+": the page never counts the estate."""
    for i in range(CAP + 2):
        make_path(name=f"old-{i}", now=NOW - 100 * DAY)

    assert work(personas.pat).reviews_due == CAP + 1


@pytest.mark.parametrize("persona", ["sam", "lee", "pat"])
def test_queries_do_not_grow_with_the_work(personas, make_path, persona):
    build(personas, make_path, 1)
    user = getattr(personas, persona).user
    with CaptureQueriesContext(connection) as few:
        work(Actor.for_user(user))
    build(personas, make_path, 4)
    with CaptureQueriesContext(connection) as many:
        assert work(Actor.for_user(user)).total > 0
    assert len(many) == len(few)


def test_claim_queue_batches_its_context(personas, make_path):
    """The claim queue's rows carry the path page's violations, in a fixed number of
    queries however many claims wait."""
    build(personas, make_path, 1)
    policy = current_policy()
    with CaptureQueriesContext(connection) as one:
        claim_queue(actor=personas.sam, now=NOW, policy=policy, size=50)
    build(personas, make_path, 3)
    with CaptureQueriesContext(connection) as four:
        rows = claim_queue(actor=personas.sam, now=NOW, policy=policy, size=50)

    assert len(rows) == 4
    assert len(four) == len(one)


def test_violations_match_the_path_page(personas, make_path):
    from registry.rules.posture import path_violations

    broad = make_path(name="broad", privilege_scope="AdministratorAccess")
    clean = make_path(name="clean")
    policy = current_policy()

    found = violations_of([broad, clean], now=NOW, policy=policy)

    for p in (broad, clean):
        assert found[p.pk] == path_violations(p, now=NOW, policy=policy)
    assert "nhi5_overprivileged" in {r.code for r in found[broad.pk]}
