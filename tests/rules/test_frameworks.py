"""The framework controls (registry/rules/frameworks.py) come from the posture rules'
ids and nowhere else, each says what it claims, and docs/frameworks.md lists them as
the code does."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from registry.rules import errors
from registry.rules.frameworks import AI_RMF, CONTROL_BY_ID, CONTROLS, CSF, NOT_COVERED, OWASP
from registry.rules.posture import RULES
from registry.rules.validation import credential_refused_fields


def test_every_id_a_rule_names_is_a_control_standing_on_exactly_those_rules():
    named = {}
    for rule in RULES:
        ids = ([(OWASP, rule.owasp)] if rule.owasp else []) + [(CSF, i) for i in rule.nist_csf]
        for key in ids + [(AI_RMF, i) for i in rule.ai_rmf]:
            named.setdefault(key, []).append(rule.code)
    assert {(c.framework, c.id): list(c.rule_codes) for c in CONTROLS} == named
    assert len(CONTROL_BY_ID) == len(CONTROLS)
    assert [c.framework for c in CONTROLS] == sorted(
        (c.framework for c in CONTROLS), key=[OWASP, CSF, AI_RMF].index
    )
    owasp = [c.id for c in CONTROLS if c.framework == OWASP]
    assert owasp == ["NHI1", "NHI2", "NHI4", "NHI5", "NHI6", "NHI7", "NHI8", "NHI9", "NHI10"]
    assert CONTROL_BY_ID["NHI7"].rule_codes == (
        "no_expiry", "nhi7_long_lived", "nhi7_agent_static", "nhi7_lease_over_max",
    )  # fmt: skip


def test_only_gv_oc_02_fails_unowned_paths():
    assert [c.id for c in CONTROLS if c.unowned_fails] == ["GV.OC-02"]
    owners = CONTROL_BY_ID["GV.OC-02"]
    assert owners.claim == "have a named owning team"
    assert not owners.passes("unowned", 0) and not owners.passes("claim_pending", 0)
    assert owners.passes("active", 0) and owners.passes("lapsed", ~owners.mask & 0xFFFF)
    assert not owners.passes("active", owners.mask)
    assert CONTROL_BY_ID["PR.AA-05"].passes("unowned", 0)


def test_nhi3_is_named_as_not_covered():
    assert NOT_COVERED == ("NHI3",)


def test_the_docs_table_is_the_code():
    text = (Path(settings.BASE_DIR) / "docs" / "frameworks.md").read_text()
    for rule in RULES:
        row = (
            f"| `{rule.code}` {rule.title} | {rule.owasp or '—'} | "
            f"{', '.join(rule.nist_csf) or '—'} | {', '.join(rule.ai_rmf) or '—'} | {rule.fix} |"
        )
        assert row in text
    for control in CONTROLS:
        assert f"| {control.id} | {control.framework} | {control.claim} |" in text
    assert "NHI3" in text


def test_credential_refusals_are_told_from_other_refusals():
    found = {
        "justification": [errors.JUSTIFICATION_PLACEHOLDER],
        "consumers": [errors.LOOKS_LIKE_SECRET.format(kind="GitHub token")],
        "identifiers": [errors.IDENTIFIER_IS_A_CREDENTIAL.format(kind="AWS secret access key")],
        "q": [errors.SEARCH_LOOKS_LIKE_SECRET.format(kind="GitHub token")],
    }
    assert credential_refused_fields(found) == ["consumers", "identifiers"]
    assert credential_refused_fields({"name": [errors.REQUIRED]}) == []
    # A key id names a credential and grants nothing: refused in free text, no leak.
    key_id = {"justification": [errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id")]}
    assert credential_refused_fields(key_id) == []
