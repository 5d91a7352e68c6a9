"""The framework controls' figures over the whole estate, exact at `now`
(rules/frameworks.py says what they mean; selectors/tallies.live_rule_counts reads them)."""

from __future__ import annotations

import datetime as dt

from registry.rules.frameworks import FrameworkSummary, summarise
from registry.rules.policies import Policy
from registry.selectors.tallies import live_rule_counts


def framework_summary(*, now: dt.datetime, policy: Policy) -> FrameworkSummary:
    """Every control's share of live paths passing, and every rule's count of live paths
    breaking it: one grouped read of the stored facts, whatever the estate's size."""
    return summarise(live_rule_counts(now=now, policy=policy))
