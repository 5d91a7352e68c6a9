"""The dashboard (registry.selectors.dashboard): every number it shows is the number of paths the
inventory lists for the query it links to, for whoever looks; it is scoped like the
inventory; it costs a constant number of queries; and the page shows those numbers
with those links.

The estate below is built through the services at past moments, so it holds every
status, attestations in two weeks (one path twice in a week), lapses noticed by two sweeps
(charted in the weeks the paths lapsed, not those of the sweeps), and unowned
registrations in two weeks. NOW is a Sunday: its week starts
Monday 16 November 2026.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.models import AccessPath, Claim, Membership, Transfer
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.rules.posture import RECOMMENDED_FIELD_COUNT, record_quality
from registry.rules.status import Status
from registry.selectors import path_list
from registry.selectors.dashboard import Dashboard, Figure, dashboard_stats
from registry.services.sweep import sweep
from registry.web.views import _common
from registry.web.views.inventory import filters_from
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
THIS_WEEK = dt.date(2026, 11, 16)
LAST_WEEK = dt.date(2026, 11, 9)
THREE_WEEKS_AGO = dt.date(2026, 11, 2)
REASON = "The nightly billing export job is ours and we run it."
NOTE = "Dropping write access; an engineer still signs in with it."


def stats_for(actor: Actor, now: dt.datetime = NOW) -> Dashboard:
    return dashboard_stats(actor=actor, now=now, policy=current_policy())


def inventory_ids(actor: Actor, query: str, now: dt.datetime = NOW) -> set:
    """What the inventory lists for a figure's query string, as the page would parse it."""
    filters = filters_from(QueryDict(query))
    return set(path_list(actor=actor, filters=filters, now=now).values_list("pk", flat=True))


def all_figures(stats: Dashboard) -> list[tuple[str, int, str]]:
    """(name, count, query) for every number on the dashboard."""
    figures: list[tuple[str, int, str]] = []
    figures += [(f"status {f.key}", f.count, f.query) for f in stats.by_status]
    figures += [(f"headline {f.label}", f.count, f.query) for f in stats.headline]
    figures += [(f"rule {v.rule.code}", v.count, v.query) for v in stats.violations]
    for row in stats.teams:
        for name in ("owned", "overdue", "lapsed", "violating", "attested"):
            figure: Figure = getattr(row, name)
            figures.append((f"team {row.slug} {name}", figure.count, figure.query))
    for chart in stats.charts:
        figures += [(f"{chart.title} {bar.week}", bar.count, bar.query) for bar in chart.bars]
    return figures


def keep(actor, path, now):
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


# --- the estate -----------------------------------------------------------------------


@pytest.fixture
def estate(personas, make_path, sid) -> SimpleNamespace:
    """Every status, built in time order; each path's expected status at NOW."""
    teams = personas.teams
    unowned = {"owner_team": None, "steward_team": teams.platform}
    unowned |= {"justification": "", "ticket_url": ""}
    p = SimpleNamespace()

    p.lapsed_early = make_path(name="lapsed-early", now=NOW - 120 * DAY)  # due NOW-30d
    p.lapsed_late = make_path(name="lapsed-late", now=NOW - 110 * DAY)  # due NOW-20d
    p.attested_last_week = make_path(name="attested-last-week", now=NOW - 100 * DAY)
    p.overdue = make_path(name="overdue", now=NOW - 95 * DAY)  # due NOW-5d
    p.review_due = make_path(name="review-due", now=NOW - 80 * DAY)  # due NOW+10d
    p.attested_twice = make_path(name="attested-twice", now=NOW - 60 * DAY)
    p.data_human_use = make_path(name="data-human-use", owner_team=teams.data, now=NOW - 50 * DAY)
    p.data_admin = make_path(
        name="data-admin",
        owner_team=teams.data,
        privilege_scope="AdministratorAccess",
        now=NOW - 40 * DAY,
    )
    p.growth = make_path(name="growth-orphan", owner_team=teams.growth, now=NOW - 30 * DAY)
    p.expired_swept = make_path(name="expired-swept", expires_at=NOW - 3 * DAY, now=NOW - 30 * DAY)
    p.revoked = make_path(name="revoked", now=NOW - 30 * DAY)
    p.claimed = make_path(name="claimed", now=NOW - 20 * DAY, **unowned)
    p.expired_unswept = make_path(
        name="expired-unswept", expires_at=NOW - 30 * dt.timedelta(minutes=1), now=NOW - 20 * DAY
    )
    claim = services.path_claim(
        actor=personas.pat, path=p.claimed, team=teams.payments, reason=REASON, now=NOW - 19 * DAY
    )
    services.claim_approve(actor=personas.sam, claim=claim, now=NOW - 18 * DAY)
    p.unowned_old = make_path(name="unowned-old", now=NOW - 15 * DAY, **unowned)
    p.active = make_path(name="active", now=NOW - 10 * DAY)
    p.offered = make_path(name="offered-to-data", now=NOW - 10 * DAY)
    p.transferred = make_path(name="transferred-to-data", now=NOW - 10 * DAY)
    p.reused_stale = make_path(
        name="reused-stale",
        consumers="a job, b job",
        last_used_at=NOW - 100 * DAY,
        now=NOW - 10 * DAY,
    )
    p.rotation = make_path(
        name="rotation-overdue",
        credential_lifetime="static",
        rotation_days=30,
        last_rotated_at=NOW - 40 * DAY,
        now=NOW - 10 * DAY,
    )
    p.waived = make_path(name="waived-wildcard", privilege_scope="s3:*", now=NOW - 10 * DAY)
    p.no_ticket = make_path(name="legacy-no-ticket", now=NOW - 10 * DAY)
    AccessPath.objects.filter(pk=p.no_ticket.pk).update(ticket_url="")
    keep(personas.pat, p.attested_last_week, NOW - 9 * DAY)

    first_sweep = sweep(now=NOW - 8 * DAY)  # lapses lapsed_early (last week)
    assert first_sweep["lapsed"] == 1

    offer = services.path_transfer(
        actor=personas.lee,
        path=p.transferred,
        to_team=teams.data,
        reason="Data owns the warehouse now.",
        now=NOW - 6 * DAY,
    )
    services.transfer_accept(actor=personas.dana, transfer=offer, now=NOW - 5 * DAY)
    services.path_transfer(
        actor=personas.lee,
        path=p.offered,
        to_team=teams.data,
        reason="Data owns the warehouse now.",
        now=NOW - 5 * DAY,
    )
    p.expiring = make_path(name="expiring-soon", expires_at=NOW + 10 * DAY, now=NOW - 5 * DAY)
    services.path_revoke(
        actor=personas.pat, path=p.revoked, reason="Replaced by OIDC.", now=NOW - 4 * DAY
    )
    # Both confirmed disabled at the source; expired_unswept still awaits it.
    for done in (p.revoked, p.expired_swept):
        services.path_confirm_source_disabled(actor=personas.pat, path=done, now=NOW - 2 * DAY)
    gwen = Membership.objects.get(team=teams.growth, user=personas.users.gwen)
    services.membership_end(
        actor=personas.system, membership=gwen, reason="Left.", now=NOW - 3 * DAY
    )
    p.claim_pending = make_path(name="claim-pending", now=NOW - 3 * DAY, **unowned)
    services.path_claim(
        actor=personas.pat,
        path=p.claim_pending,
        team=teams.payments,
        reason=REASON,
        now=NOW - 2 * DAY,
    )
    p.unowned_new = make_path(name="unowned-new", now=NOW - 2 * DAY, **unowned)
    keep(personas.pat, p.attested_twice, NOW - DAY)
    services.path_attest(
        actor=personas.dana,
        path=p.data_human_use,
        decision="reduce_scope",
        still_needed=True,
        justification_accurate=True,
        least_privilege=False,
        no_human_use=False,
        note=NOTE,
        now=NOW - DAY,
    )
    exception = services.exception_request(
        actor=personas.sam,
        path=p.waived,
        rule="nhi5_overprivileged",
        reason="The vendor appliance needs it until the Q3 platform migration.",
        expires_at=NOW + 30 * DAY,
        now=NOW - DAY,
    )
    services.exception_approve(actor=sid, exception=exception, now=NOW - DAY)
    keep(personas.pat, p.attested_twice, NOW - 2 * HOUR)

    second_sweep = sweep(now=NOW - HOUR)  # lapses lapsed_late and growth; expires one
    assert (second_sweep["lapsed"], second_sweep["expired"]) == (2, 1)

    expected = {
        Status.UNOWNED: {p.unowned_old, p.unowned_new},
        Status.CLAIM_PENDING: {p.claim_pending},
        Status.ACTIVE: {
            p.active,
            p.claimed,
            p.offered,
            p.transferred,
            p.data_admin,
            p.data_human_use,
            p.attested_twice,
            p.attested_last_week,
            p.expiring,
            p.reused_stale,
            p.rotation,
            p.waived,
            p.no_ticket,
        },
        Status.REVIEW_DUE: {p.review_due},
        Status.OVERDUE: {p.overdue},
        Status.LAPSED: {p.lapsed_early, p.lapsed_late, p.growth},
        Status.EXPIRED: {p.expired_swept},
        Status.REVOKED: {p.revoked},
        Status.AWAITING_SOURCE: {p.expired_unswept},
    }
    assert Claim.objects.filter(status=Claim.Status.PENDING).count() == 1
    assert Transfer.objects.filter(status=Transfer.Status.PENDING).count() == 1
    return SimpleNamespace(paths=p, expected={s: {x.pk for x in v} for s, v in expected.items()})


def visible_to(actor: Actor) -> set:
    return set(path_list(actor=actor, now=NOW).values_list("pk", flat=True))


# --- every figure is its inventory query -----------------------------------------------


@pytest.mark.parametrize("who", ["sam", "pat", "lee", "dana", "otto", "gwen", "payments_ci"])
def test_every_figure_counts_what_its_query_lists(personas, estate, who):
    actor = getattr(personas, who, None) or Actor.for_user(getattr(personas.users, who))
    stats = stats_for(actor)
    assert stats.total == len(visible_to(actor))
    assert sum(f.count for f in stats.by_status) == stats.total
    figures = all_figures(stats)
    assert len(figures) >= 8 + 4 + 10 + 3 * 12
    mismatches = [
        (name, count, listed)
        for name, count, query in figures
        if count != (listed := len(inventory_ids(actor, query)))
    ]
    assert mismatches == []


def test_the_estate_as_security_sees_it(personas, estate):
    p = estate.paths
    stats = stats_for(personas.sam)
    assert stats.total == sum(len(ids) for ids in estate.expected.values()) == 24
    by_status = {f.key: f.count for f in stats.by_status}
    assert by_status == {s.value: len(ids) for s, ids in estate.expected.items()}
    for figure in stats.by_status:
        assert inventory_ids(personas.sam, figure.query) == estate.expected[figure.key]
    headline = {f.label: f.count for f in stats.headline}
    assert headline == {
        "Unowned": 2,
        "Overdue": 1,
        "Lapsed": 3,
        "Expiring in 30 days": 1,
        "Not seen in last sync": 0,
    }
    (expiring,) = [f for f in stats.headline if f.label.startswith("Expiring")]
    assert inventory_ids(personas.sam, expiring.query) == {p.expiring.pk}

    violations = {v.rule.code: v.count for v in stats.violations}
    assert violations == {
        "nhi1_offboarding": 1,  # growth, emptied
        "nhi5_overprivileged": 1,  # data-admin; the waived s3:* is silenced
        "no_expiry": 0,
        "nhi7_long_lived": 1,
        "nhi8_environment_isolation": 0,
        "nhi9_reuse": 1,
        "nhi10_human_use": 1,
        # legacy-no-ticket, and the claimed path (registered unowned without a ticket,
        # then claimed without one). Its justification is the claim's reason, which
        # passed the same specific-justification check, so none is weak.
        "missing_ticket": 2,
        "weak_justification": 0,
        "stale_record": 1,
        # The live high-risk paths: none names an owner for every control point.
        "missing_authority": 21,
        # Issue 18's rules. The owned live high-risk paths carry no sign-off policy;
        # nothing here leaked, signs in without MFA, runs on a platform offering workload
        # identity, is an agent's, issues leases or was made by a pipeline.
        "nhi2_secret_leakage": 0,
        "nhi4_insecure_authentication": 0,
        "nhi6_static_not_workload": 0,
        "nhi7_agent_static": 0,
        "nhi7_lease_over_max": 0,
        "missing_signoff_policy": 18,
        "missing_provenance": 0,
    }
    rule_query = {v.rule.code: v.query for v in stats.violations}
    assert inventory_ids(personas.sam, rule_query["nhi5_overprivileged"]) == {p.data_admin.pk}
    assert inventory_ids(personas.sam, rule_query["missing_ticket"]) == {
        p.no_ticket.pk,
        p.claimed.pk,
    }

    rows = {row.slug: row for row in stats.teams}
    assert set(rows) == {"payments", "data", "growth"}
    payments = rows["payments"]
    # active 10, review_due 1, overdue 1, lapsed 2
    assert (payments.owned.count, payments.overdue.count, payments.lapsed.count) == (14, 1, 2)
    # Attested in cycle: only the two payments paths a person attested this cycle; the
    # other active ones were registered or approved and never attested (issue 16).
    assert payments.attested.count == 2
    assert payments.attested_pct == round(100 * 2 / 14)
    assert inventory_ids(personas.sam, payments.attested.query) == {
        p.attested_last_week.pk,
        p.attested_twice.pk,
    }
    assert (rows["data"].attested.count, rows["data"].attested_pct) == (1, round(100 / 3))
    # Every data path is high-risk without control-point owners (missing_authority).
    assert (rows["data"].owned.count, rows["data"].violating.count) == (3, 3)
    assert (rows["growth"].owned.count, rows["growth"].lapsed.count) == (1, 1)
    assert rows["growth"].attested_pct == 0
    # Lapsed first, then overdue: payments (2 lapsed) before growth (1) before data.
    assert [row.slug for row in stats.teams] == ["payments", "growth", "data"]
    # Team record quality: the average of its paths' completeness.
    data_paths = [AccessPath.objects.get(pk=pk) for pk in (p.transferred.pk, p.data_admin.pk)] + [
        AccessPath.objects.get(pk=p.data_human_use.pk)
    ]
    filled = sum(record_quality(x) * RECOMMENDED_FIELD_COUNT / 100 for x in data_paths)
    assert rows["data"].quality_pct == round(100 * filled / (3 * RECOMMENDED_FIELD_COUNT))


def chart(stats: Dashboard, word: str):
    (found,) = [c for c in stats.charts if word in c.title]
    return found


def bars_by_week(stats: Dashboard, word: str) -> dict[dt.date, int]:
    return {bar.week: bar.count for bar in chart(stats, word).bars if bar.count}


def test_weekly_charts(personas, estate):
    p = estate.paths
    stats = stats_for(personas.sam)
    policy = current_policy()
    assert [len(c.bars) for c in stats.charts] == [policy.dashboard_weeks] * 3
    assert chart(stats, "attested").bars[-1].week == THIS_WEEK
    # attested-twice counts once this week; data-human-use too; last week one path.
    assert bars_by_week(stats, "attested") == {THIS_WEEK: 2, LAST_WEEK: 1}
    # lapsed-early lapsed on 6 November (due 23 October + 14 days), though the sweep
    # noticed it on the 14th; lapsed-late on the 16th; growth when gwen left (the 19th).
    assert bars_by_week(stats, "lapsed") == {THIS_WEEK: 2, THREE_WEEKS_AGO: 1}
    assert bars_by_week(stats, "unowned") == {THIS_WEEK: 2, THREE_WEEKS_AGO: 2}

    this_week = chart(stats, "attested").bars[-1]
    assert inventory_ids(personas.sam, this_week.query) == {
        p.attested_twice.pk,
        p.data_human_use.pk,
    }
    assert inventory_ids(personas.sam, chart(stats, "lapsed").bars[-1].query) == {
        p.lapsed_late.pk,
        p.growth.pk,
    }
    assert inventory_ids(personas.sam, chart(stats, "lapsed").bars[-2].query) == set()
    assert inventory_ids(personas.sam, chart(stats, "lapsed").bars[-3].query) == {p.lapsed_early.pk}
    assert inventory_ids(personas.sam, chart(stats, "unowned").bars[-1].query) == {
        p.claim_pending.pk,
        p.unowned_new.pk,
    }
    # The tallest bar is full height; an empty week keeps a sliver.
    unowned_bars = chart(stats, "unowned").bars
    assert unowned_bars[-1].height_pct == 100
    assert unowned_bars[0].count == 0 and unowned_bars[0].height > 0


def test_a_team_member_sees_only_what_the_team_can_see(personas, estate):
    p = estate.paths
    hidden = {p.transferred.pk, p.data_admin.pk, p.data_human_use.pk, p.growth.pk}
    everything = set().union(*estate.expected.values())
    assert visible_to(personas.pat) == everything - hidden

    stats = stats_for(personas.pat)
    assert stats.total == 20
    by_status = {f.key: f.count for f in stats.by_status}
    assert by_status[Status.ACTIVE] == 10
    assert by_status[Status.LAPSED] == 2
    violations = {v.rule.code: v.count for v in stats.violations}
    assert violations["nhi5_overprivileged"] == 0  # data-admin is data's
    assert violations["nhi10_human_use"] == 0
    assert violations["nhi1_offboarding"] == 0  # growth's
    assert [row.slug for row in stats.teams] == ["payments"]
    assert bars_by_week(stats, "attested") == {THIS_WEEK: 1, LAST_WEEK: 1}
    assert bars_by_week(stats, "lapsed") == {THIS_WEEK: 1, THREE_WEEKS_AGO: 1}
    for _, _, query in all_figures(stats):
        assert not inventory_ids(personas.pat, query) & hidden

    # data sees its own, what is offered to it, and the unowned ones.
    dana = stats_for(personas.dana)
    assert dana.total == 3 + 1 + 3
    assert {row.slug: row.owned.count for row in dana.teams} == {"data": 3, "payments": 1}


def test_an_outsider_sees_zero_everywhere(personas, estate):
    stats = stats_for(personas.otto)
    assert stats.total == 0
    assert stats.teams == []
    assert [count for _, count, _ in all_figures(stats)] == [0] * len(all_figures(stats))


# --- cost -----------------------------------------------------------------------------


def dashboard_queries(actor: Actor) -> int:
    actor.team_ids  # noqa: B018 - the actor's roles are read once per request, not here
    with CaptureQueriesContext(connection) as captured:
        stats_for(actor)
    return len(captured.captured_queries)


@pytest.mark.parametrize("who", ["sam", "pat"])
def test_dashboard_runs_a_constant_number_of_queries(personas, make_path, who):
    make_path(name="only-one")
    small = dashboard_queries(Actor.for_user(getattr(personas.users, who)))
    # Shared external ids, the one estate pass, the team names, the charts, and the
    # incident figures (one query; two on SQLite, which has no percentile).
    assert small <= 6
    for index in range(29):
        if index % 3 == 0:
            make_path(name=f"unowned-{index}", owner_team=None, justification="", ticket_url="")
        elif index % 3 == 1:
            keep(personas.pat, make_path(name=f"kept-{index}"), NOW + HOUR)
        else:
            make_path(name=f"data-{index}", owner_team=personas.teams.data, consumers="a, b")
    assert AccessPath.objects.count() >= 30
    assert dashboard_queries(Actor.for_user(getattr(personas.users, who))) == small


# --- the page -------------------------------------------------------------------------


@pytest.fixture
def frozen(monkeypatch):
    """Pages read the clock once per request (registry.web.views._common.request_now)."""
    monkeypatch.setattr(_common, "timezone", SimpleNamespace(now=lambda: NOW))


def href(query: str) -> str:
    return f'href="{html.escape("/paths/?" + query)}"'


def test_the_page_shows_the_numbers_with_their_links(client, personas, estate, frozen):
    stats = stats_for(personas.sam)
    client.force_login(personas.users.sam)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "The whole estate" in page and "24 access paths" in page

    overdue = next(f for f in stats.by_status if f.key == "overdue")
    assert f'{href(overdue.query)} data-status-count="overdue">1</a>' in page
    for figure in stats.headline:
        slug = re.sub(r"[^a-z0-9]+", "-", figure.label.lower()).strip("-")
        assert f'data-figure="{slug}">{figure.count}</span>' in page
        assert f'class="tile tone-{figure.tone}" {href(figure.query)}' in page
    rule = next(v for v in stats.violations if v.rule.code == "missing_ticket")
    assert f'{href(rule.query)} data-rule-count="missing_ticket">2</a>' in page
    payments = next(row for row in stats.teams if row.slug == "payments")
    assert f"{href(payments.owned.query)}>14</a>" in page
    assert "&amp;status=review_due" in href(payments.owned.query)
    this_week = chart(stats, "attested").bars[-1]
    assert f"{href(this_week.query)}>2</a>" in page


def test_every_link_on_the_page_lists_its_number(client, personas, estate, frozen):
    """Follow each dashboard link to the inventory page: it shows as many rows."""
    stats = stats_for(personas.pat)
    client.force_login(personas.users.pat)
    page = client.get("/").content.decode()
    assert "The paths your teams can see" in page and "20 access paths" in page
    for name, count, query in all_figures(stats):
        assert href(query) in page, name
        listed = client.get("/paths/?" + query)
        assert listed.status_code == 200, name
        assert len(listed.context["page"]) == count, name


def test_an_outsider_page_shows_zero(client, personas, estate, frozen):
    client.force_login(personas.users.otto)
    page = client.get("/").content.decode()
    assert "0 access paths" in page
    assert "No team owns a live path yet." in page
