"""Policy at request time: what the posture rules a request would break mean for it.

Each rule has an enforcement level in the policy (Policy.enforcement): INFORM (the
caller is told), EXCEPTION (the request needs an approved policy exception for the rule)
or REFUSE (the request is refused). The verdict a pipeline acts on is the strictest of
them: allowed, needs_approval or refused. One home for it: the evaluate endpoint, a
register's dry run, a register's or an edit's answer, the path page and the exports all
call `verdict_for` and `finding_json`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from registry.rules.policies import EXCEPTION, INFORM, REFUSE, Policy, current_policy
from registry.rules.posture import RULE_BY_CODE, PostureRule

ALLOWED, NEEDS_APPROVAL, REFUSED = "allowed", "needs_approval", "refused"


@dataclass(frozen=True)
class Finding:
    """One broken rule and what it means for the request."""

    rule: PostureRule
    level: str  # the rule's enforcement level
    waived: bool  # an approved, unexpired exception covers it
    # The path broke it before this change: an edit that did not cause it is not held up.
    already: bool

    @property
    def blocks(self) -> str | None:
        """What this finding makes of the request: REFUSED, NEEDS_APPROVAL or None."""
        if self.waived or self.already or self.level == INFORM:
            return None
        return REFUSED if self.level == REFUSE else NEEDS_APPROVAL


@dataclass(frozen=True)
class Verdict:
    outcome: str  # ALLOWED, NEEDS_APPROVAL or REFUSED
    findings: tuple[Finding, ...]

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSED


def verdict_for(
    rules: Iterable[PostureRule],
    *,
    policy: Policy,
    waived: Collection[str] = (),
    already: Collection[str] = (),
) -> Verdict:
    """The verdict on a request whose path would break `rules`. `waived`: the codes its
    approved exceptions cover; `already`: the codes it broke before the change (an
    existing path's edit)."""
    findings = tuple(
        Finding(
            rule=rule,
            level=policy.enforcement_for(rule.code),
            waived=rule.code in waived,
            already=rule.code in already,
        )
        for rule in rules
    )
    blocking = {finding.blocks for finding in findings}
    if REFUSED in blocking:
        outcome = REFUSED
    elif NEEDS_APPROVAL in blocking:
        outcome = NEEDS_APPROVAL
    else:
        outcome = ALLOWED
    return Verdict(outcome=outcome, findings=findings)


def rule_json(rule: PostureRule) -> dict[str, Any]:
    """A rule as the API, the exports and the evidence pack give it."""
    return {
        "rule": rule.code,
        "title": rule.title,
        "owasp_nhi": rule.owasp or None,
        "nist_csf": list(rule.nist_csf),
        "nist_ai_rmf": list(rule.ai_rmf),
        "explanation": rule.explanation,
        "fix": rule.fix,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        **rule_json(finding.rule),
        "enforcement": finding.level,
        "waived": finding.waived,
        "blocks": finding.blocks,
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.outcome,
        "violations": [finding_json(finding) for finding in verdict.findings],
    }


def unknown_enforced_rules(policy: Policy) -> list[str]:
    """Rule codes the policy's enforcement names that no posture rule has (a typo would
    otherwise enforce nothing, silently)."""
    return sorted(code for code in policy.enforcement if code not in RULE_BY_CODE)


def check_enforcement(app_configs: Any = None, **kwargs: Any) -> list:
    """A system check: NHI_POLICY's enforcement names only known rules (the settings read
    the policy before the models, so the codes are checked here, at start-up)."""
    from django.core import checks

    unknown = unknown_enforced_rules(current_policy())
    if not unknown:
        return []
    return [
        checks.Error(
            f"NHI_POLICY 'enforcement' names unknown posture rules: {', '.join(unknown)}.",
            hint=f"Known rules: {', '.join(RULE_BY_CODE)}.",
            id="registry.E002",
        )
    ]


__all__ = [
    "ALLOWED",
    "EXCEPTION",
    "NEEDS_APPROVAL",
    "REFUSE",
    "REFUSED",
    "Finding",
    "Verdict",
    "finding_json",
    "rule_json",
    "verdict_for",
    "verdict_json",
]
