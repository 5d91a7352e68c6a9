"""Numbers built from a history (issue 16): "attested in cycle" counts the paths a person
attested in their running review cycle, not every path whose review is not yet due; the
weekly charts put each event in the week it happened, a lapse in the week the path
lapsed however late the sweep noticed it. Each figure and bar lists, in the inventory,
exactly the paths it counts.

NOW is Sunday 22 November 2026 (its week starts Monday the 16th); high-risk paths are
reviewed every 90 days and lapse 14 days after their review date.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.http import QueryDict

from registry import services
from registry.models import AuditEvent, Membership
from registry.rules.policies import current_policy
from registry.selectors import path_list
from registry.selectors.dashboard import Dashboard, dashboard_stats
from registry.services.sweep import sweep
from registry.web.views.inventory import filters_from
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
LAPSE = dt.timedelta(days=14)


def week_of(moment: dt.datetime) -> dt.date:
    day = moment.date()
    return day - dt.timedelta(days=day.weekday())


def attest(actor, path, now):
    return services.path_attest(
        actor=actor,
        path=path,
        decision="keep",
        still_needed=True,
        justification_accurate=True,
        least_privilege=True,
        no_human_use=True,
        now=now,
    )


def listed(actor, query: str, now: dt.datetime = NOW) -> set:
    filters = filters_from(QueryDict(query))
    return set(path_list(actor=actor, filters=filters, now=now).values_list("pk", flat=True))


def bars(stats: Dashboard, word: str) -> dict:
    (chart,) = [c for c in stats.charts if word in c.title]
    return {bar.week: bar for bar in chart.bars if bar.count}


@pytest.fixture
def history(personas, make_path):
    """Registered, attested, left alone for months, swept only at the end."""
    data, growth = personas.teams.data, personas.teams.growth
    h = SimpleNamespace()
    # Five new data paths, due NOW+20d: active, and none attested yet.
    h.new = [make_path(name=f"new-{i}", owner_team=data, now=NOW - 70 * DAY) for i in range(5)]
    # Two of them attested by dana twenty days ago: a new cycle, attested.
    for path in h.new[:2]:
        attest(personas.dana, path, NOW - 20 * DAY)
    # Attested once, then its cycle ran out: due NOW-60d, lapsed at NOW-46d.
    h.attested_then_lapsed = make_path(
        name="attested-then-lapsed",
        owner_team=data,
        expires_at=NOW + 300 * DAY,  # the default expiry would have passed
        now=NOW - 200 * DAY,
    )
    attest(personas.dana, h.attested_then_lapsed, NOW - 150 * DAY)
    # Never attested: due NOW-30d, lapsed at NOW-16d.
    h.never_attested = make_path(name="never-attested", owner_team=data, now=NOW - 120 * DAY)
    # Growth's path lapses when its last member leaves, ten days ago.
    h.orphaned = make_path(name="orphaned", owner_team=growth, now=NOW - 60 * DAY)
    gwen = Membership.objects.get(team=growth, user=personas.users.gwen, ended_at__isnull=True)
    services.membership_end(
        actor=personas.system, membership=gwen, reason="Left.", now=NOW - 10 * DAY
    )
    h.unowned = make_path(
        name="unowned", owner_team=None, justification="", ticket_url="", now=NOW - 3 * DAY
    )
    # The first sweep in months, this week.
    h.swept = sweep(now=NOW - HOUR)
    return h


def test_attested_in_cycle_counts_only_attested_cycles(personas, history):
    h = history
    stats = dashboard_stats(actor=personas.sam, now=NOW, policy=current_policy())
    data = {row.slug: row for row in stats.teams}["data"]
    # Owned: the five new ones and the two lapsed ones. Active (review not yet due): the
    # five; attested in their cycle: the two dana attested, not the three never attested
    # and not the one whose attested cycle ran out.
    assert data.owned.count == 7
    assert data.attested.count == 2
    assert data.attested_pct == round(100 * 2 / 7)
    assert listed(personas.sam, data.attested.query) == {p.pk for p in h.new[:2]}
    assert listed(personas.dana, data.attested.query) == {p.pk for p in h.new[:2]}

    # Attesting a third starts its cycle: counted at once; when the two earlier cycles
    # run out (due NOW+70d), only the third (due NOW+89d) is still attested.
    attest(personas.dana, h.new[2], NOW - HOUR)
    stats = dashboard_stats(actor=personas.sam, now=NOW, policy=current_policy())
    assert {row.slug: row for row in stats.teams}["data"].attested.count == 3
    later = NOW + 80 * DAY
    stats = dashboard_stats(actor=personas.sam, now=later, policy=current_policy())
    row = {row.slug: row for row in stats.teams}["data"]
    assert row.attested.count == 1
    assert listed(personas.sam, row.attested.query, now=later) == {h.new[2].pk}


def test_lapses_are_charted_when_they_happened_not_when_swept(personas, history):
    h = history
    assert h.swept["lapsed"] == 3
    stats = dashboard_stats(actor=personas.sam, now=NOW, policy=current_policy())
    lapsed = bars(stats, "lapsed")
    lapsed_at = {
        h.attested_then_lapsed.pk: NOW - 60 * DAY + LAPSE,
        h.never_attested.pk: NOW - 30 * DAY + LAPSE,
        h.orphaned.pk: NOW - 10 * DAY,
    }
    # Three different weeks, none of them the sweep's.
    assert {week: bar.count for week, bar in lapsed.items()} == {
        week_of(moment): 1 for moment in lapsed_at.values()
    }
    assert week_of(NOW - HOUR) not in lapsed
    for pk, moment in lapsed_at.items():
        assert listed(personas.sam, lapsed[week_of(moment)].query) == {pk}
        # The event says when: the audit record, not the sweep's clock.
        event = AuditEvent.objects.get(path_id=pk, action="access_path.lapsed")
        assert event.created_at == NOW - HOUR
        assert event.changes["lapsed_at"] == [None, moment.isoformat()]


def test_attested_and_registered_are_charted_in_their_weeks(personas, history):
    h = history
    stats = dashboard_stats(actor=personas.sam, now=NOW, policy=current_policy())
    attested = bars(stats, "attested")
    # The attestation 150 days ago is before the chart's twelve weeks.
    assert {week: bar.count for week, bar in attested.items()} == {week_of(NOW - 20 * DAY): 2}
    assert listed(personas.sam, attested[week_of(NOW - 20 * DAY)].query) == {
        p.pk for p in h.new[:2]
    }
    unowned = bars(stats, "unowned")
    assert {week: bar.count for week, bar in unowned.items()} == {week_of(NOW - 3 * DAY): 1}
    assert listed(personas.sam, unowned[week_of(NOW - 3 * DAY)].query) == {h.unowned.pk}
