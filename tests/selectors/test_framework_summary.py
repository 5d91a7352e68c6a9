"""The framework controls' figures (rules/frameworks.py, selectors/frameworks.py): exact
on a known estate, equal to a direct count with the inventory's own predicates for every
control and every rule, as time passes and when the stored facts are out of date, in a
handful of queries. Runs in both database passes of `make test`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Q

from registry import services
from registry.models import AccessPath, TallyVersion
from registry.rules.frameworks import CONTROLS, summarise
from registry.rules.policies import current_policy
from registry.rules.posture import RULES, violation_q
from registry.rules.status import live_q
from registry.selectors.frameworks import framework_summary
from registry.selectors.tallies import tally_groups, tally_is_current
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def estate(personas, make_path):
    """Four live paths, one unowned and one with an admin scope; a revoked one."""
    low = {"risk_tier": AccessPath.RiskTier.LOW, "expires_at": NOW + 60 * DAY}
    make_path(name="clean-a", **low)
    make_path(name="admin-b", privilege_scope="AdministratorAccess", **low)
    make_path(name="clean-c", **low)
    make_path(
        name="nobody-d",
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
        **low,
    )
    gone = make_path(name="revoked-e", privilege_scope="AdministratorAccess", **low)
    services.path_revoke(actor=personas.sam, path=gone, reason="No longer needed.", now=NOW)
    return personas


def direct(now: dt.datetime) -> dict[str, tuple[int, int]]:
    """Every control's (live, passing), counted path by path with violation_q."""
    policy = current_policy()
    live = AccessPath.objects.filter(live_q(now))
    breaking = {
        rule.code: set(
            live.filter(violation_q(rule.code, now=now, policy=policy)).values_list("pk")
        )
        for rule in RULES
    }
    unowned = set(live.filter(Q(owner_team__isnull=True)).values_list("pk"))
    everyone = set(live.values_list("pk"))
    figures = {}
    for control in CONTROLS:
        failing = set().union(*(breaking[code] for code in control.rule_codes))
        if control.unowned_fails:
            failing |= unowned
        figures[control.id] = (len(everyone), len(everyone - failing))
    figures |= {f"rule:{code}": (len(everyone), len(ids)) for code, ids in breaking.items()}
    return figures


def summarised(now: dt.datetime) -> dict[str, tuple[int, int]]:
    summary = framework_summary(now=now, policy=current_policy())
    figures = {f.control.id: (f.live, f.passing) for f in summary.controls}
    figures |= {f"rule:{f.rule.code}": (summary.live, f.violating) for f in summary.rules}
    return figures


def test_known_estate(estate):
    summary = framework_summary(now=NOW, policy=current_policy())
    assert summary.live == 4
    owners = summary.control("GV.OC-02")
    assert (owners.live, owners.passing, owners.percent) == (4, 3, Decimal("75.0"))
    assert owners.statement == "GV.OC-02: 75.0% of live paths have a named owning team"
    assert summary.control("PR.AA-05").statement == (
        "PR.AA-05: 75.0% of live paths hold least privilege"
    )
    assert summary.control("NHI5").passing == 3
    assert summary.violating("nhi5_overprivileged") == 1  # the revoked one is not live
    # Only ownership (GV.OC-02) fails the unowned path: the other controls pass it.
    assert summary.control("GV.RR-02").passing == 4
    assert summarised(NOW) == direct(NOW)


def test_rule_counts_are_the_dashboards(estate):
    summary = framework_summary(now=NOW, policy=current_policy())
    groups = tally_groups(estate.sam, now=NOW, policy=current_policy())
    for figure in summary.rules:
        assert figure.violating == sum(g[f"r_{figure.rule.code}"] for g in groups)


def test_exact_as_time_passes_and_with_stale_facts(estate):
    # Past the expiry: every path has expired (none live); before it, reviews fall due.
    for now in (NOW + 10 * DAY, NOW + 59 * DAY, NOW + 61 * DAY):
        assert summarised(now) == direct(now)
    assert tally_is_current(current_policy())
    TallyVersion.objects.all().delete()  # facts computed under another policy: count now
    assert not tally_is_current(current_policy())
    assert summarised(NOW) == direct(NOW)
    assert framework_summary(now=NOW + 61 * DAY, policy=current_policy()).live == 0


def test_a_handful_of_queries(estate, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        framework_summary(now=NOW + 10 * DAY, policy=current_policy())


def test_no_live_paths(personas):
    summary = framework_summary(now=NOW, policy=current_policy())
    assert summary.live == 0
    assert summary.control("GV.OC-02").percent is None
    assert summary.control("GV.OC-02").statement == "GV.OC-02: no live paths to measure"


def test_percent_rounds_half_up_to_one_decimal():
    # 1 of 8 is 12.5; 5 of 6 is 83.33…; 39 of 40 is 97.5.
    owners = next(c for c in CONTROLS if c.id == "GV.OC-02")
    counts = {("active", 0): 39, ("unowned", 0): 1}
    assert summarise(counts).control("GV.OC-02").percent == Decimal("97.5")
    assert summarise({("active", 0): 5, ("unowned", 0): 1}).control(owners.id).statement == (
        "GV.OC-02: 83.3% of live paths have a named owning team"
    )
    counts = {("active", 0): 1, ("active", owners.mask): 7}
    assert summarise(counts).control("GV.OC-02").percent == Decimal("12.5")
