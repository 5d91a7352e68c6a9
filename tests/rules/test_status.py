"""Status is exact at read time, and the status filter agrees with the annotation.

Every threshold is pinned one minute before, at the exact instant and one minute after,
for a high-risk path registered at NOW (90-day review interval, so the next review is
due at NOW + 90 days; the default expiry for a high-risk owner is NOW + 180 days).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.models import AccessPath
from registry.rules.errors import Invalid
from registry.rules.status import Status
from registry.selectors import path_get, path_list
from tests.conftest import NOW

MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
REVIEW_AT = NOW + 90 * DAY  # high risk tier: 90-day interval
WINDOW_OPENS = REVIEW_AT - 14 * DAY  # first reminder: review_due from here
LAPSES_AT = REVIEW_AT + 14 * DAY  # end of the escalation ladder
EXPIRES_AT = NOW + 180 * DAY  # default expiry for a high-risk owned path
ALL_STATUSES = list(Status.values)


def status_at(personas, path: AccessPath, now: dt.datetime) -> str:
    found = path_get(actor=personas.sam, path_id=path.pk, now=now)
    assert found is not None
    return found.status


def matching_filters(personas, path: AccessPath, now: dt.datetime) -> list[str]:
    """Every status whose filter returns the path."""
    return [
        status
        for status in ALL_STATUSES
        if path_list(actor=personas.sam, filters={"status": [status]}, now=now)
        .filter(pk=path.pk)
        .exists()
    ]


def assert_status(personas, path: AccessPath, now: dt.datetime, expected: str) -> None:
    """The annotation says `expected`, and the filter of `expected` (and no other) finds it."""
    assert status_at(personas, path, now) == expected
    assert matching_filters(personas, path, now) == [expected]


@pytest.fixture
def owned(make_path):
    """High risk, owned by payments, registered at NOW."""
    path = make_path(risk_tier=AccessPath.RiskTier.HIGH)
    assert path.next_review_at == REVIEW_AT
    assert path.expires_at == EXPIRES_AT
    return path


# --- the time thresholds of an owned path --------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(NOW, Status.ACTIVE, id="registered"),
        # active -> review_due: next_review_at <= now + 14 days (inclusive)
        pytest.param(WINDOW_OPENS - MINUTE, Status.ACTIVE, id="review-window-minus-1min"),
        pytest.param(WINDOW_OPENS, Status.REVIEW_DUE, id="review-window-exact"),
        pytest.param(WINDOW_OPENS + MINUTE, Status.REVIEW_DUE, id="review-window-plus-1min"),
        # review_due -> overdue: next_review_at <= now (inclusive)
        pytest.param(REVIEW_AT - MINUTE, Status.REVIEW_DUE, id="due-minus-1min"),
        pytest.param(REVIEW_AT, Status.OVERDUE, id="due-exact"),
        pytest.param(REVIEW_AT + MINUTE, Status.OVERDUE, id="due-plus-1min"),
        # overdue -> lapsed: next_review_at <= now - 14 days (inclusive)
        pytest.param(LAPSES_AT - MINUTE, Status.OVERDUE, id="lapse-minus-1min"),
        pytest.param(LAPSES_AT, Status.LAPSED, id="lapse-exact"),
        pytest.param(LAPSES_AT + MINUTE, Status.LAPSED, id="lapse-plus-1min"),
        # lapsed -> expired: expires_at <= now (inclusive), before any sweep has run
        pytest.param(EXPIRES_AT - MINUTE, Status.LAPSED, id="expiry-minus-1min"),
        pytest.param(EXPIRES_AT, Status.AWAITING_SOURCE, id="expiry-exact"),
        pytest.param(EXPIRES_AT + MINUTE, Status.AWAITING_SOURCE, id="expiry-plus-1min"),
    ],
)
def test_owned_path_status_over_time(personas, owned, now, expected):
    assert_status(personas, owned, now, expected)


def test_attestation_starts_a_new_cycle(personas, owned):
    """Once attested during the window, the path is active again until the new window."""
    services.path_attest(
        actor=personas.pat,
        path=owned,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=REVIEW_AT - DAY,
    )
    new_due = REVIEW_AT - DAY + 90 * DAY
    assert_status(personas, owned, REVIEW_AT + MINUTE, Status.ACTIVE)
    assert_status(personas, owned, new_due - 14 * DAY - MINUTE, Status.ACTIVE)
    assert_status(personas, owned, new_due - 14 * DAY, Status.REVIEW_DUE)
    # The new cycle is cut short by the unchanged expiry.
    assert_status(personas, owned, EXPIRES_AT, Status.AWAITING_SOURCE)


# --- stored states -------------------------------------------------------------------


def test_unowned_path(personas, unowned_path):
    assert_status(personas, unowned_path, NOW, Status.UNOWNED)
    # No owner, no review clock: still unowned long after an owned path would lapse.
    assert_status(personas, unowned_path, LAPSES_AT + 365 * DAY, Status.UNOWNED)


def test_claim_pending_path(personas, unowned_path):
    services.path_claim(
        actor=personas.pat,
        path=unowned_path,
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
        now=NOW,
    )
    assert_status(personas, unowned_path, NOW, Status.CLAIM_PENDING)
    assert_status(personas, unowned_path, LAPSES_AT, Status.CLAIM_PENDING)


@pytest.fixture
def unowned_expiring(make_path, personas):
    return make_path(
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
        expires_at=NOW + 30 * DAY,
    )


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-MINUTE, Status.UNOWNED),
        (dt.timedelta(0), Status.AWAITING_SOURCE),
        (MINUTE, Status.AWAITING_SOURCE),
    ],
    ids=["minus-1min", "exact", "plus-1min"],
)
def test_unowned_path_expires_by_date(personas, unowned_expiring, offset, expected):
    assert_status(personas, unowned_expiring, NOW + 30 * DAY + offset, expected)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-MINUTE, Status.CLAIM_PENDING),
        (dt.timedelta(0), Status.AWAITING_SOURCE),
        (MINUTE, Status.AWAITING_SOURCE),
    ],
    ids=["minus-1min", "exact", "plus-1min"],
)
def test_claim_pending_path_expires_by_date(personas, unowned_expiring, offset, expected):
    services.path_claim(
        actor=personas.pat,
        path=unowned_expiring,
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
        now=NOW,
    )
    assert_status(personas, unowned_expiring, NOW + 30 * DAY + offset, expected)


def test_stored_expired_state_is_expired_at_any_time(personas, owned):
    services.path_expire(actor=personas.system, path=owned, now=EXPIRES_AT + MINUTE)
    owned.refresh_from_db()
    assert owned.state == AccessPath.State.EXPIRED
    for now in (NOW, WINDOW_OPENS, REVIEW_AT, LAPSES_AT, EXPIRES_AT + 30 * DAY):
        assert_status(personas, owned, now, Status.AWAITING_SOURCE)


# --- precedence: revoked > expired > unowned/claim_pending > lapsed > overdue > review_due
# > active ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [NOW + DAY, WINDOW_OPENS, REVIEW_AT, LAPSES_AT, EXPIRES_AT, EXPIRES_AT + 365 * DAY],
    ids=["active", "review_due", "overdue", "lapsed", "expired", "long-expired"],
)
def test_revoked_beats_every_time_derived_status(personas, owned, now):
    services.path_revoke(
        actor=personas.system,
        path=owned,
        reason="The billing export job was decommissioned.",
        now=NOW + DAY,
    )
    assert_status(personas, owned, now, Status.AWAITING_SOURCE)


def test_revoked_beats_an_inactive_owner(personas, owned):
    services.path_revoke(
        actor=personas.system,
        path=owned,
        reason="The billing export job was decommissioned.",
        now=NOW + DAY,
    )
    services.team_deactivate(
        actor=personas.system, team=personas.teams.payments, reason="Team dissolved.", now=NOW
    )
    assert_status(personas, owned, NOW + 2 * DAY, Status.AWAITING_SOURCE)


def test_revoked_unowned_path_is_revoked(personas, unowned_expiring):
    services.path_revoke(
        actor=personas.system,
        path=unowned_expiring,
        reason="Nobody claimed it; the key was deleted.",
        now=NOW + DAY,
    )
    assert_status(personas, unowned_expiring, NOW + DAY, Status.AWAITING_SOURCE)
    assert_status(personas, unowned_expiring, NOW + 60 * DAY, Status.AWAITING_SOURCE)


def test_expired_beats_an_inactive_owner(personas, owned):
    services.team_deactivate(
        actor=personas.system, team=personas.teams.payments, reason="Team dissolved.", now=NOW
    )
    assert_status(personas, owned, EXPIRES_AT - MINUTE, Status.LAPSED)
    assert_status(personas, owned, EXPIRES_AT, Status.AWAITING_SOURCE)


@pytest.mark.parametrize(
    "now",
    [NOW + MINUTE, WINDOW_OPENS, REVIEW_AT, LAPSES_AT - MINUTE],
    ids=["would-be-active", "would-be-review_due", "would-be-overdue", "would-be-overdue-late"],
)
def test_inactive_owner_team_makes_the_path_lapsed(personas, owned, now):
    services.team_deactivate(
        actor=personas.system, team=personas.teams.payments, reason="Team dissolved.", now=NOW
    )
    assert_status(personas, owned, now, Status.LAPSED)


def test_reactivated_owner_team_restores_the_date_status(personas, owned):
    team = personas.teams.payments
    services.team_deactivate(actor=personas.system, team=team, reason="Reorg.", now=NOW)
    assert_status(personas, owned, NOW + MINUTE, Status.LAPSED)
    services.team_reactivate(actor=personas.system, team=team, reason="Reorg undone.", now=NOW)
    assert_status(personas, owned, NOW + MINUTE, Status.ACTIVE)
    assert_status(personas, owned, REVIEW_AT, Status.OVERDUE)


@pytest.mark.parametrize(
    "now",
    [NOW + MINUTE, WINDOW_OPENS, REVIEW_AT, LAPSES_AT - MINUTE],
    ids=["would-be-active", "would-be-review_due", "would-be-overdue", "would-be-overdue-late"],
)
def test_owner_team_without_members_makes_the_path_lapsed(personas, make_path, now):
    path = make_path(owner_team=personas.teams.data)
    dana = personas.teams.data.memberships.get(user=personas.users.dana)
    services.membership_end(actor=personas.system, membership=dana, reason="Left.", now=NOW)
    assert_status(personas, path, now, Status.LAPSED)


def test_empty_owner_team_with_a_new_member_is_accountable_again(personas, make_path):
    path = make_path(owner_team=personas.teams.data)
    dana = personas.teams.data.memberships.get(user=personas.users.dana)
    services.membership_end(actor=personas.system, membership=dana, reason="Left.", now=NOW)
    assert_status(personas, path, NOW + MINUTE, Status.LAPSED)
    services.membership_add(
        actor=personas.system, team=personas.teams.data, user=personas.users.otto, now=NOW
    )
    assert_status(personas, path, NOW + MINUTE, Status.ACTIVE)


def test_only_current_memberships_count(personas, make_path):
    """An ended membership leaves the team empty even though its row remains."""
    path = make_path(owner_team=personas.teams.growth)
    gwen = personas.teams.growth.memberships.get(user=personas.users.gwen)
    services.membership_end(actor=personas.system, membership=gwen, reason="Left.", now=NOW)
    assert personas.teams.growth.memberships.count() == 1
    assert_status(personas, path, NOW + MINUTE, Status.LAPSED)


def test_other_teams_being_empty_does_not_matter(personas, owned):
    dana = personas.teams.data.memberships.get(user=personas.users.dana)
    services.membership_end(actor=personas.system, membership=dana, reason="Left.", now=NOW)
    services.team_deactivate(
        actor=personas.system, team=personas.teams.growth, reason="Team dissolved.", now=NOW
    )
    assert_status(personas, owned, NOW + MINUTE, Status.ACTIVE)


def test_status_filter_with_several_values_is_their_union(personas, make_path, unowned_path):
    owned = make_path()
    in_window = path_list(
        actor=personas.sam, filters={"status": ["overdue", "unowned"]}, now=REVIEW_AT
    )
    assert set(in_window.values_list("pk", flat=True)) == {owned.pk, unowned_path.pk}
    before = path_list(
        actor=personas.sam, filters={"status": ["overdue", "unowned"]}, now=REVIEW_AT - MINUTE
    )
    assert set(before.values_list("pk", flat=True)) == {unowned_path.pk}


def test_unknown_status_is_refused_not_ignored(personas, make_path):
    make_path()
    with pytest.raises(Invalid) as caught:
        path_list(actor=personas.sam, filters={"status": ["stale"]}, now=NOW)
    assert caught.value.field == "status"


def test_estate_annotation_and_filters_partition_every_path(personas, make_path):
    """Across a mixed estate and many instants, every path matches exactly one status
    filter, the one its annotation shows."""
    payments, data, growth = personas.teams.payments, personas.teams.data, personas.teams.growth
    paths = [
        make_path(risk_tier=tier, owner_team=team)
        for tier in AccessPath.RiskTier.values
        for team in (payments, data, growth)
    ]
    paths.append(
        make_path(owner_team=None, steward_team=personas.teams.platform, justification="",
                  ticket_url="", expires_at=NOW + 45 * DAY)
    )  # fmt: skip
    claimed = make_path(owner_team=None, justification="", ticket_url="")
    services.path_claim(
        actor=personas.dana, path=claimed, team=data,
        reason="The warehouse loader reads raw events with this account.", now=NOW,
    )  # fmt: skip
    paths.append(claimed)
    revoked = make_path(owner_team=payments)
    services.path_revoke(actor=personas.system, path=revoked, reason="Not used.", now=NOW)
    paths.append(revoked)
    # Revoked and expired, each confirmed disabled at the source (revoked / expired).
    confirmed = make_path(owner_team=payments)
    services.path_revoke(actor=personas.system, path=confirmed, reason="Not used.", now=NOW)
    services.path_confirm_source_disabled(actor=personas.system, path=confirmed, now=NOW)
    lapsed_by_date = make_path(owner_team=payments, expires_at=NOW + 10 * DAY)
    services.path_expire(actor=personas.system, path=lapsed_by_date, now=NOW + 11 * DAY)
    services.path_confirm_source_disabled(
        actor=personas.system, path=lapsed_by_date, now=NOW + 11 * DAY
    )
    paths += [confirmed, lapsed_by_date]
    services.team_deactivate(actor=personas.system, team=growth, reason="Dissolved.", now=NOW)

    seen: set[str] = set()
    for days in (0, 16, 20, 30, 31, 44, 45, 76, 90, 100, 104, 166, 170, 180, 194, 366, 400):
        now = NOW + days * DAY
        annotated = dict(path_list(actor=personas.sam, now=now).values_list("pk", "status"))
        by_filter: dict = {}
        for status in ALL_STATUSES:
            for pk in path_list(
                actor=personas.sam, filters={"status": [status]}, now=now
            ).values_list("pk", flat=True):
                by_filter.setdefault(pk, []).append(status)
        for path in paths:
            assert by_filter.get(path.pk) == [annotated[path.pk]], (days, path.name)
        seen.update(annotated.values())
    assert seen == set(ALL_STATUSES)


# --- visibility ----------------------------------------------------------------------


@pytest.fixture
def estate(personas, make_path, unowned_path):
    payments_path = make_path(owner_team=personas.teams.payments)
    data_path = make_path(owner_team=personas.teams.data)
    data_stewarded_by_platform = make_path(
        owner_team=personas.teams.data, steward_team=personas.teams.platform
    )
    revoked_payments = make_path(owner_team=personas.teams.payments)
    services.path_revoke(
        actor=personas.system, path=revoked_payments, reason="Not used any more.", now=NOW
    )
    return {
        "payments": payments_path,
        "data": data_path,
        "data_platform": data_stewarded_by_platform,
        "revoked_payments": revoked_payments,
        "unowned": unowned_path,
    }


def visible(actor, **kwargs) -> set:
    return set(path_list(actor=actor, now=NOW, **kwargs).values_list("pk", flat=True))


def test_outsider_sees_nothing(personas, estate):
    assert visible(personas.otto) == set()
    assert path_get(actor=personas.otto, path_id=estate["unowned"].pk, now=NOW) is None
    assert path_get(actor=personas.otto, path_id=estate["payments"].pk, now=NOW) is None


def test_team_member_sees_own_and_unowned_paths(personas, estate):
    expected = {estate["payments"].pk, estate["revoked_payments"].pk, estate["unowned"].pk}
    assert visible(personas.pat) == expected
    assert visible(personas.lee) == expected
    assert path_get(actor=personas.pat, path_id=estate["data"].pk, now=NOW) is None


def test_team_member_sees_claim_pending_paths(personas, estate):
    services.path_claim(
        actor=personas.dana, path=estate["unowned"], team=personas.teams.data,
        reason="The warehouse loader reads raw events with this account.", now=NOW,
    )  # fmt: skip
    assert estate["unowned"].pk in visible(personas.pat)


def test_team_member_sees_a_path_offered_to_their_team(personas, estate):
    offered = estate["data"]
    assert offered.pk not in visible(personas.pat)
    services.path_transfer(
        actor=personas.system, path=offered, to_team=personas.teams.payments,
        reason="Payments now runs the export.", now=NOW,
    )  # fmt: skip
    assert offered.pk in visible(personas.pat)
    assert offered.pk not in visible(personas.otto)


def test_steward_team_sees_what_it_stewards(personas, estate):
    services.membership_add(
        actor=personas.system, team=personas.teams.platform, user=personas.users.otto, now=NOW
    )
    personas.otto.invalidate()
    assert visible(personas.otto) == {estate["data_platform"].pk, estate["unowned"].pk}


def test_security_reviewer_sees_everything(personas, estate):
    assert visible(personas.sam) == {p.pk for p in estate.values()}
    assert visible(personas.sam) == set(AccessPath.objects.values_list("pk", flat=True))


def test_integration_sees_its_teams_paths(personas, estate):
    assert visible(personas.payments_ci) == {
        estate["payments"].pk,
        estate["revoked_payments"].pk,
        estate["unowned"].pk,
    }


def test_status_filter_stays_scoped(personas, estate):
    assert visible(personas.pat, filters={"status": ["active"]}) == {estate["payments"].pk}
    assert visible(personas.dana, filters={"status": ["active"]}) == {
        estate["data"].pk,
        estate["data_platform"].pk,
    }
    assert visible(personas.otto, filters={"status": ALL_STATUSES}) == set()


# --- one query -----------------------------------------------------------------------


def _read_inventory(actor):
    rows = list(path_list(actor=actor, filters={"status": ALL_STATUSES}, now=REVIEW_AT))
    # What a template or serializer touches must already be loaded.
    return [(p.status, p.owner_team and p.owner_team.slug, p.steward_team) for p in rows]


@pytest.mark.parametrize("persona", ["sam", "pat", "payments_ci"])
def test_status_annotation_is_one_query_whatever_the_size(
    personas, make_path, django_assert_num_queries, persona
):
    actor = getattr(personas, persona)
    actor.team_ids  # noqa: B018 - the actor's roles are looked up once per request
    actor.is_security_reviewer  # noqa: B018
    make_path()
    with CaptureQueriesContext(connection) as one:
        assert len(_read_inventory(actor)) == 1
    assert len(one.captured_queries) == 1
    for _ in range(29):
        make_path()
    with django_assert_num_queries(len(one.captured_queries)):
        rows = _read_inventory(actor)
    assert len(rows) == 30
    assert {status for status, _, _ in rows} == {Status.OVERDUE}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (WINDOW_OPENS - dt.timedelta(microseconds=1), Status.ACTIVE),
        (REVIEW_AT - dt.timedelta(microseconds=1), Status.REVIEW_DUE),
        (LAPSES_AT - dt.timedelta(microseconds=1), Status.OVERDUE),
        (EXPIRES_AT - dt.timedelta(microseconds=1), Status.LAPSED),
    ],
    ids=["review-window", "due", "lapse", "expiry"],
)
def test_thresholds_hold_to_the_microsecond(personas, owned, now, expected):
    """The database compares instants, not text of varying precision."""
    assert_status(personas, owned, now, expected)


def test_status_does_not_depend_on_the_callers_time_zone(personas, owned):
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert_status(personas, owned, REVIEW_AT.astimezone(tokyo), Status.OVERDUE)
    assert_status(personas, owned, (REVIEW_AT - MINUTE).astimezone(tokyo), Status.REVIEW_DUE)
