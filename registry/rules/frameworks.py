"""The framework controls the posture rules support, and what each control's figure claims.

One `Control` per OWASP NHI Top 10 (2025) id, NIST CSF 2.0 subcategory and NIST AI RMF
1.0 subcategory that a posture rule names (rules/posture.py RULES: `owasp`, `nist_csf`,
`ai_rmf`). Which rules a control stands on is read from RULES, never listed twice: a rule
that gains an id gains the control. This module holds only what RULES cannot say: each
id's title and the statement its percentage makes.

A control's figure is the share of live paths (unowned, claim pending, active, review
due, overdue, lapsed) that break none of its rules (an approved, live exception silences
a rule as everywhere else). GV.OC-02 ("stakeholders' needs understood": someone answers
for the access) also fails every live path with no named owning team: unowned or with a
claim still pending.

`summarise(counts)` turns live paths counted per (status, rule bits) — one grouped read
of the stored facts (selectors/tallies.live_rule_counts) — into every control's figure
and every rule's count, so the evidence pack, its command and the dashboard say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from registry.rules.facts import RULE_BITS, UNOWNED_STATUSES
from registry.rules.posture import RULES, PostureRule

OWASP = "OWASP NHI Top 10 2025"
CSF = "NIST CSF 2.0"
AI_RMF = "NIST AI RMF 1.0"
FRAMEWORKS = (OWASP, CSF, AI_RMF)

# id -> (title, what a passing path is: "<id>: 97.4% of live paths <claim>").
OWASP_TEXT: dict[str, tuple[str, str]] = {
    "NHI1": ("Improper Offboarding", "are not left with an inactive or empty owning team"),
    "NHI2": ("Secret Leakage", "have no leaked or pasted secret outstanding"),
    "NHI3": ("Vulnerable Third-Party NHI", "are not exposed through a third-party vendor"),
    "NHI4": ("Insecure Authentication", "do not allow a sign-in without MFA"),
    "NHI5": ("Overprivileged NHI", "hold no admin role or wildcard scope"),
    "NHI6": (
        "Insecure Cloud Deployment Configurations",
        "use workload identity where the platform offers it",
    ),
    "NHI7": ("Long-Lived Secrets", "hold no long-lived or unexpiring secret"),
    "NHI8": ("Environment Isolation", "are not shared between environments"),
    "NHI9": ("NHI Reuse", "are not reused by several consumers or systems"),
    "NHI10": ("Human Use of NHI", "are not used by a person"),
}
CSF_TEXT: dict[str, tuple[str, str]] = {
    "GV.OC-02": (
        "Internal and external stakeholders' needs and expectations are understood",
        "have a named owning team",
    ),
    "GV.RR-02": (
        "Roles, responsibilities and authorities are established and enforced",
        "name who answers, who approved and who signs off",
    ),
    "ID.AM-08": (
        "Systems, services and data are managed throughout their life cycles",
        "are managed through their life cycle (ticket, justification, expiry, use)",
    ),
    "PR.AA-01": (
        "Identities and credentials of users, services and hardware are managed",
        "have their credentials managed (expiring, rotated, not leaked)",
    ),
    "PR.AA-03": (
        "Users, services and hardware are authenticated",
        "authenticate as a machine, without a person's sign-in or a static key",
    ),
    "PR.AA-05": (
        "Access permissions are managed with least privilege and separation of duties",
        "hold least privilege",
    ),
    "PR.DS-01": (
        "The confidentiality, integrity and availability of data at rest are protected",
        "have no leaked or pasted secret outstanding",
    ),
}
AI_RMF_TEXT: dict[str, tuple[str, str]] = {
    "GOVERN 1.6": (
        "Mechanisms are in place to inventory AI systems",
        "are inventoried with their ticket, justification and provenance",
    ),
    "GOVERN 2.1": (
        "Roles, responsibilities and lines of communication are documented and clear",
        "have documented roles and responsibilities",
    ),
    "GOVERN 3.2": (
        "Roles and responsibilities for human-AI configurations and oversight are defined",
        "have human oversight defined where an agent uses them",
    ),
    "MANAGE 2.4": (
        "Mechanisms are applied to supersede, disengage or deactivate AI systems",
        "can be disengaged: owned, expiring, in use, with a sign-off and rollback path",
    ),
    "MEASURE 2.7": (
        "AI system security and resilience are evaluated and documented",
        "pass the security evaluation of their rules",
    ),
}
# The controls that also fail a live path nobody owns yet.
OWNERSHIP_CONTROLS = frozenset({"GV.OC-02"})


@dataclass(frozen=True)
class Control:
    id: str
    framework: str
    title: str
    claim: str
    rules: tuple[PostureRule, ...]
    unowned_fails: bool = False

    @property
    def mask(self) -> int:
        """The facts' bits of its rules (rules/facts.RULE_BITS)."""
        return sum(RULE_BITS[rule.code] for rule in self.rules)

    @property
    def rule_codes(self) -> tuple[str, ...]:
        return tuple(rule.code for rule in self.rules)

    def passes(self, status: str, rule_bits: int) -> bool:
        """Whether a live path with this status and these broken rules passes."""
        if self.unowned_fails and status in UNOWNED_STATUSES:
            return False
        return not rule_bits & self.mask


def _number(framework_id: str) -> tuple:
    """Sort key: NHI2 before NHI10, GOVERN 1.6 before GOVERN 2.1."""
    head, _, tail = framework_id.replace("NHI", "NHI ").partition(" ")
    parts = tuple(int(p) if p.isdigit() else p for p in tail.replace(".", " ").split())
    return (head, parts)


def _controls() -> tuple[Control, ...]:
    found: dict[tuple[str, str], list[PostureRule]] = {}
    for rule in RULES:
        keys = [(OWASP, rule.owasp)] if rule.owasp else []
        keys += [(CSF, i) for i in rule.nist_csf] + [(AI_RMF, i) for i in rule.ai_rmf]
        for key in keys:
            found.setdefault(key, []).append(rule)
    texts = {OWASP: OWASP_TEXT, CSF: CSF_TEXT, AI_RMF: AI_RMF_TEXT}
    controls = []
    for framework in FRAMEWORKS:
        ids = sorted((i for f, i in found if f == framework), key=_number)
        for framework_id in ids:
            if framework_id not in texts[framework]:
                raise ValueError(f"{framework} id {framework_id!r} has no title and claim here")
            title, claim = texts[framework][framework_id]
            controls.append(
                Control(
                    id=framework_id,
                    framework=framework,
                    title=title,
                    claim=claim,
                    rules=tuple(found[(framework, framework_id)]),
                    unowned_fails=framework_id in OWNERSHIP_CONTROLS,
                )
            )
    return tuple(controls)


CONTROLS: tuple[Control, ...] = _controls()
CONTROL_BY_ID = {control.id: control for control in CONTROLS}
# Ids with a text but no rule: what the registry cannot measure (docs/frameworks.md).
NOT_COVERED = tuple(
    framework_id
    for texts in (OWASP_TEXT, CSF_TEXT, AI_RMF_TEXT)
    for framework_id in texts
    if framework_id not in CONTROL_BY_ID
)


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, rounded half up (None: no whole)."""
    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class ControlFigure:
    control: Control
    live: int
    passing: int

    @property
    def percent(self) -> Decimal | None:
        return percent(self.passing, self.live)

    @property
    def statement(self) -> str:
        """ "GV.OC-02: 97.4% of live paths have a named owning team"."""
        if self.percent is None:
            return f"{self.control.id}: no live paths to measure"
        return f"{self.control.id}: {self.percent}% of live paths {self.control.claim}"


@dataclass(frozen=True)
class RuleFigure:
    rule: PostureRule
    violating: int


@dataclass(frozen=True)
class FrameworkSummary:
    live: int
    controls: tuple[ControlFigure, ...]
    rules: tuple[RuleFigure, ...]

    def control(self, control_id: str) -> ControlFigure:
        return next(f for f in self.controls if f.control.id == control_id)

    def violating(self, code: str) -> int:
        return next(f.violating for f in self.rules if f.rule.code == code)


def summarise(counts: Mapping[tuple[str, int], int]) -> FrameworkSummary:
    """Every control's figure and every rule's count from the live paths counted per
    (status, the rule bits they break)."""
    live = sum(counts.values())
    controls = tuple(
        ControlFigure(
            control,
            live,
            sum(n for (status, bits), n in counts.items() if control.passes(status, bits)),
        )
        for control in CONTROLS
    )
    rules = tuple(
        RuleFigure(rule, sum(n for (_, bits), n in counts.items() if bits & RULE_BITS[rule.code]))
        for rule in RULES
    )
    return FrameworkSummary(live, controls, rules)
