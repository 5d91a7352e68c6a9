"""Which posture rules paths break, as the API, the exports and the pages give it
(issue 18): one path's verdict (its page, its detail, a register's or an edit's answer)
and many paths' violations at once (the API's list rows, CSV and JSON exports).

Many paths: each path's stored facts (PathFacts.flags, one bit per rule:
rules/facts.RULE_BITS) already say it, for every path whose facts are still valid at
`now` and were computed under the current rules and policy
(selectors.tallies.tally_is_current). The others (facts that time made run out since the
sweep last reclassified them, usually a handful; every path while the rules or the
policy differ from the stored facts' fingerprint) are classified exactly at `now`, from
the very expression the services store (rules/facts.flags_expression), in one more
query per batch. A read writes nothing: refreshing the stored facts
(services.tallies.refresh_due_facts) stays the sweep's job, and an export running while
the sweep is late is still exact. Queries: one for the fingerprint, then one or two per
batch of ids, whatever the number of rows.

The flags are what the dashboard counts: rules broken and not waived by a live
exception. A path's own verdict (`path_verdict`) also lists the waived ones, marked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import QuerySet

from registry.models import AccessPath, PathFacts
from registry.rules.enforcement import Verdict, rule_json, verdict_for
from registry.rules.facts import RULE_BITS, RULE_MASK, flags_expression
from registry.rules.policies import Policy
from registry.rules.posture import RULE_BY_CODE, RULES, PostureRule, path_rule_states
from registry.selectors.by_ids import rows_by_ids
from registry.selectors.tallies import tally_is_current

# "It broke every rule before": the verdict on a path as it stands holds nothing up.
EVERY_RULE = frozenset(rule.code for rule in RULES)


def path_verdict(
    path: AccessPath, *, now: dt.datetime, policy: Policy, before: Collection[str] = EVERY_RULE
) -> Verdict:
    """The request-time verdict on `path` as it stands (rules/enforcement.py): every rule
    it breaks, waived or not, with its enforcement level. `before`: the codes it broke
    before the change being judged (by default all: a read, which holds nothing up)."""
    broken, waived = path_rule_states(path, now=now, policy=policy)
    return verdict_for(broken, policy=policy, waived=waived, already=before)


def rule_catalog(policy: Policy) -> list[dict[str, Any]]:
    """Every posture rule as rule_json gives it, with its framework ids and its
    enforcement level under `policy` (GET /api/v1/posture-rules/)."""
    return [
        {
            **rule_json(rule),
            "framework_ids": list(rule.framework_ids),
            "enforcement": policy.enforcement_for(rule.code),
        }
        for rule in RULES
    ]


def framework_ids_known() -> list[str]:
    """Every framework id some posture rule maps to, sorted."""
    return sorted({fid for rule in RULES for fid in rule.framework_ids})


def rules_of(flags: int) -> list[PostureRule]:
    """The posture rules a PathFacts.flags value records, in RULES order."""
    return [RULE_BY_CODE[code] for code, bit in RULE_BITS.items() if flags & bit]


def _stored_facts(condition: Any) -> QuerySet:
    """(path id, flags, valid until, status) of the paths' stored facts."""
    facts = PathFacts.objects.filter(condition).order_by()
    return facts.values_list("path_id", "flags", "valid_until", "status")


class Violations:
    """The rules many paths break at `now`, batch by batch (an API page, an export's
    chunk), each distinct combination described once."""

    def __init__(self, *, now: dt.datetime, policy: Policy, using: str = "default") -> None:
        self.now, self.policy, self.using = now, policy, using
        self.stored_are_current = tally_is_current(policy)
        self._described: dict[int, tuple[list[str], list[str]]] = {}

    def flags(self, ids: Sequence[Any]) -> dict[Any, int]:
        """{path id: the bits of the rules it breaks} for `ids`: stored facts still
        valid, the others classified now."""
        found: dict[Any, int] = {}
        if self.stored_are_current:
            for path_id, flags, valid_until, status in rows_by_ids(
                _stored_facts, "path_id", ids, self.using
            ):
                if status and valid_until > self.now:
                    found[path_id] = flags & RULE_MASK
        missing = [pk for pk in ids if pk not in found]
        if missing:
            exact = (
                AccessPath.objects.using(self.using)
                .filter(pk__in=missing)
                .order_by()
                .annotate(x_flags=flags_expression(now=self.now, policy=self.policy))
                .values_list("pk", "x_flags")
            )
            for path_id, flags in exact:
                found[path_id] = flags & RULE_MASK
        return found

    def described(self, flags: int) -> tuple[list[str], list[str]]:
        """(rule codes, framework ids) of a flags value: the ids of every rule it
        records, each once, in the rules' order."""
        known = self._described.get(flags)
        if known is None:
            rules = rules_of(flags)
            ids = list(dict.fromkeys(fid for rule in rules for fid in rule.framework_ids))
            known = self._described[flags] = ([rule.code for rule in rules], ids)
        return known

    def rows_json(self, ids: Sequence[Any]) -> dict[Any, list[dict[str, Any]]]:
        """{path id: [{rule, framework_ids}, ...]}: the API's list rows."""
        flags = self.flags(ids)
        return {
            pk: [
                {"rule": rule.code, "framework_ids": list(rule.framework_ids)}
                for rule in rules_of(flags.get(pk, 0))
            ]
            for pk in ids
        }
