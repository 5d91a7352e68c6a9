"""The request-time verdict (registry/rules/enforcement.py): the strictest level of the
rules a request breaks decides it; waived rules and rules an edit did not cause hold
nothing up; an enforcement naming an unknown rule stops start-up."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from registry.models import PolicyException
from registry.rules.enforcement import (
    ALLOWED,
    NEEDS_APPROVAL,
    REFUSED,
    check_enforcement,
    verdict_for,
    verdict_json,
)
from registry.rules.policies import Policy, policy_from_mapping
from registry.rules.posture import RULE_BY_CODE, RULES

Rule = PolicyException.Rule
POLICY = Policy(
    enforcement={
        Rule.NHI5_OVERPRIVILEGED: "exception",
        Rule.NHI7_AGENT_STATIC: "refuse",
    }
)


def rules(*codes: str):
    return [RULE_BY_CODE[code] for code in codes]


def test_the_strictest_level_decides():
    assert verdict_for(rules(Rule.MISSING_TICKET), policy=POLICY).outcome == ALLOWED
    assert (
        verdict_for(rules(Rule.MISSING_TICKET, Rule.NHI5_OVERPRIVILEGED), policy=POLICY).outcome
        == NEEDS_APPROVAL
    )
    both = rules(Rule.NHI5_OVERPRIVILEGED, Rule.NHI7_AGENT_STATIC)
    assert verdict_for(both, policy=POLICY).outcome == REFUSED
    assert verdict_for([], policy=POLICY).outcome == ALLOWED


def test_a_waived_rule_or_one_the_path_already_broke_holds_nothing_up():
    both = rules(Rule.NHI5_OVERPRIVILEGED, Rule.NHI7_AGENT_STATIC)
    waived = verdict_for(both, policy=POLICY, waived={Rule.NHI7_AGENT_STATIC})
    assert waived.outcome == NEEDS_APPROVAL
    already = verdict_for(
        both, policy=POLICY, already={Rule.NHI7_AGENT_STATIC, "nhi5_overprivileged"}
    )
    assert already.outcome == ALLOWED
    # Still reported: the caller is told about every rule it breaks.
    assert [v["rule"] for v in verdict_json(already)["violations"]] == [r.code for r in both]


def test_every_violation_names_its_frameworks_and_fix():
    verdict = verdict_json(verdict_for(rules(Rule.NHI7_AGENT_STATIC), policy=POLICY))
    (violation,) = verdict["violations"]
    assert verdict["verdict"] == REFUSED
    assert violation["owasp_nhi"] == "NHI7"
    assert violation["nist_csf"] == ["PR.AA-01"]
    assert "GOVERN 3.2" in violation["nist_ai_rmf"]
    assert violation["fix"] and violation["enforcement"] == "refuse"
    assert violation["blocks"] == REFUSED


def test_every_rule_has_a_fix_and_a_nist_reference():
    for rule in RULES:
        assert rule.fix, rule.code
        assert rule.nist_csf, rule.code


def test_a_policy_names_levels_it_knows():
    with pytest.raises(ImproperlyConfigured, match=r"enforcement\.nhi5_overprivileged"):
        policy_from_mapping({"enforcement": {"nhi5_overprivileged": "block"}})
    policy = policy_from_mapping({"enforcement": {"missing_ticket": "refuse"}})
    assert policy.enforcement_for("missing_ticket") == "refuse"
    assert policy.enforcement_for("nhi7_agent_static") == "refuse"  # the default kept
    assert policy.enforcement_for("stale_record") == "inform"


def test_an_unknown_rule_in_the_enforcement_stops_start_up():
    assert check_enforcement() == []
    with override_settings(NHI_POLICY={"enforcement": {"nhi99_typo": "refuse"}}):
        (error,) = check_enforcement()
    assert error.id == "registry.E002" and "nhi99_typo" in error.msg
