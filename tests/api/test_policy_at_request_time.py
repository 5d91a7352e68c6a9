"""Policy at request time (issue 18, item 3): the evaluate endpoint, a register's dry
run, the verdict that refuses or answers a registration and an edit, violations in the
path's detail and list rows, the rule catalog and the `framework` filter."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, AuditEvent, PolicyException
from registry.rules import errors
from registry.rules.enforcement import NEEDS_APPROVAL, REFUSED
from registry.rules.policies import EXCEPTION, INFORM, REFUSE
from registry.rules.posture import RULES
from tests.api.helpers import DAY, EXCEPTION_REASON, assert_error, bearer, issue, unchanged, url
from tests.conftest import path_data

pytestmark = pytest.mark.django_db

EVALUATE = reverse("access-path-evaluate")
CATALOG = reverse("posture-rules")
ADMIN = "AdministratorAccess"


def agent_body(**overrides) -> dict:
    """A production agent credential, static, with AdministratorAccess, made by an agent."""
    body = path_data(
        name="release-agent",
        kind=AccessPath.Kind.AGENT_CREDENTIAL,
        external_id="agent:release-bot",
        owner_team="payments",
        privilege_scope=ADMIN,
        credential_lifetime=AccessPath.CredentialLifetime.STATIC,
        created_via=AccessPath.CreatedVia.AI_AGENT,
        created_by_ref="release-bot",
    )
    body.update(overrides)
    return body


def narrow_body(**overrides) -> dict:
    """A medium-risk, short-lived path with a narrow scope: breaks nothing."""
    body = path_data(
        name="invoice-reader",
        external_id="arn:aws:iam::123:role/invoice-reader",
        owner_team="payments",
        risk_tier=AccessPath.RiskTier.MEDIUM,
        privilege_scope="s3:GetObject on billing-exports/*",
        credential_lifetime=AccessPath.CredentialLifetime.SHORT_LIVED,
    )
    body.update(overrides)
    return body


def by_rule(violations: list[dict]) -> dict[str, dict]:
    return {violation["rule"]: violation for violation in violations}


def test_evaluate_answers_a_production_admin_agent_credential(pat):
    with unchanged():
        response = pat.post(EVALUATE, agent_body(), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verdict"] == REFUSED  # a static agent credential is refused by default
    found = by_rule(body["violations"])
    assert {"nhi5_overprivileged", "nhi7_agent_static", "missing_signoff_policy"} <= set(found)
    static = found["nhi7_agent_static"]
    assert static["owasp_nhi"] == "NHI7" and "PR.AA-01" in static["nist_csf"]
    assert "GOVERN 3.2" in static["nist_ai_rmf"]
    assert static["enforcement"] == REFUSE and static["blocks"] == REFUSED
    assert static["fix"] and static["explanation"] and static["waived"] is False
    admin = found["nhi5_overprivileged"]
    assert admin["owasp_nhi"] == "NHI5" and "PR.AA-05" in admin["nist_csf"]
    assert admin["enforcement"] == EXCEPTION and admin["blocks"] == NEEDS_APPROVAL
    assert found["missing_signoff_policy"]["blocks"] == NEEDS_APPROVAL
    assert not AccessPath.objects.filter(external_id="agent:release-bot").exists()


def test_evaluate_verdicts_follow_the_enforcement_levels(pat, settings):
    assert pat.post(EVALUATE, narrow_body(), format="json").json() == {
        "verdict": "allowed",
        "violations": [],
    }
    admin = pat.post(EVALUATE, narrow_body(privilege_scope=ADMIN), format="json").json()
    assert admin["verdict"] == NEEDS_APPROVAL
    settings.NHI_POLICY = {"enforcement": {"nhi5_overprivileged": INFORM}}
    informed = pat.post(EVALUATE, narrow_body(privilege_scope=ADMIN), format="json").json()
    assert informed["verdict"] == "allowed"
    assert by_rule(informed["violations"])["nhi5_overprivileged"]["blocks"] is None
    settings.NHI_POLICY = {"enforcement": {"nhi5_overprivileged": REFUSE}}
    refused = pat.post(EVALUATE, narrow_body(privilege_scope=ADMIN), format="json").json()
    assert refused["verdict"] == REFUSED


def test_evaluate_refuses_what_the_register_refuses_with_the_same_400(pat):
    bad = narrow_body(justification="tbd", surprise="x")
    with unchanged():
        evaluated = pat.post(EVALUATE, bad, format="json")
        registered = pat.post(url(), bad, format="json")
    assert_error(evaluated, 400, errors={"surprise": errors.UNKNOWN_FIELD})
    assert evaluated.json() == registered.json()
    placeholder = narrow_body(justification="tbd")
    with unchanged():
        evaluated = pat.post(EVALUATE, placeholder, format="json")
        registered = pat.post(url(), placeholder, format="json")
    assert_error(evaluated, 400, errors={"justification": errors.JUSTIFICATION_PLACEHOLDER})
    assert evaluated.json() == registered.json()


def test_evaluate_asks_the_registers_permission(dana, ci, personas):
    read_only = bearer(issue(personas, scopes=("read",))[1])
    with unchanged():
        assert dana.post(EVALUATE, narrow_body(), format="json").status_code == 403
        assert read_only.post(EVALUATE, narrow_body(), format="json").status_code == 403
    assert ci.post(EVALUATE, narrow_body(), format="json").status_code == 200


def test_evaluate_says_nothing_about_other_teams_paths(pat, make_path, personas):
    """NHI8/NHI9 compare a path with others: the unaudited evaluate leaves them out;
    the audited registration applies them."""
    make_path(
        owner_team=personas.teams.data,
        system="gcp",
        external_id="shared-deployer",
        environment=AccessPath.Environment.STAGING,
    )
    body = narrow_body(external_id="shared-deployer")
    evaluated = pat.post(EVALUATE, body, format="json").json()
    assert evaluated == {"verdict": "allowed", "violations": []}
    created = pat.post(url(), body, format="json")
    assert created.status_code == 201, created.content
    assert {"nhi8_environment_isolation", "nhi9_reuse"} <= set(
        by_rule(created.json()["violations"])
    )


def test_dry_run_answers_what_evaluate_answers_and_saves_nothing(pat):
    evaluated = pat.post(EVALUATE, agent_body(), format="json").json()
    with unchanged():
        dry = pat.post(url() + "?dry_run=true", agent_body(), format="json")
    assert dry.status_code == 200 and dry.json() == evaluated
    with unchanged():
        allowed = pat.post(url() + "?dry_run=true", narrow_body(), format="json")
    assert allowed.status_code == 200
    assert allowed.json() == {"verdict": "allowed", "violations": []}
    assert not AccessPath.objects.filter(name__in=["release-agent", "invoice-reader"]).exists()


def test_a_misspelt_or_bad_dry_run_is_refused_by_name(pat):
    with unchanged():
        typo = pat.post(url() + "?dry_rn=true", narrow_body(), format="json")
        maybe = pat.post(url() + "?dry_run=maybe", narrow_body(), format="json")
    body = assert_error(typo, 400)
    assert list(body["errors"]) == ["dry_rn"]
    assert body["errors"]["dry_rn"][0].startswith(errors.UNKNOWN_FILTER.split("{")[0])
    assert_error(maybe, 400, errors={"dry_run": errors.DRY_RUN_INVALID})
    created = pat.post(url() + "?dry_run=false", narrow_body(), format="json")
    assert created.status_code == 201


def test_register_with_a_refused_violation_is_refused_and_saves_nothing(pat, ci):
    for client, target in ((pat, url()), (ci, url(action="register"))):
        with unchanged():
            response = client.post(target, agent_body(), format="json")
        body = assert_error(response, 422)
        assert body["code"] == "policy_refused"
        assert body["detail"] == errors.POLICY_REFUSED.format(rules="nhi7_agent_static")
        assert body["verdict"] == REFUSED
        assert by_rule(body["violations"])["nhi7_agent_static"]["blocks"] == REFUSED
    assert not AccessPath.objects.filter(external_id="agent:release-bot").exists()


def test_register_answers_its_verdict_and_the_exceptions_to_request(pat, ci):
    allowed = pat.post(url(), narrow_body(), format="json")
    assert allowed.status_code == 201, allowed.content
    assert allowed.json()["verdict"] == "allowed"
    assert allowed.json()["violations"] == [] and allowed.json()["exceptions_to_request"] == []
    short_lived_agent = agent_body(credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL)
    held = ci.post(url(action="register"), short_lived_agent, format="json")
    assert held.status_code == 201, held.content
    body = held.json()
    assert body["verdict"] == NEEDS_APPROVAL
    path = AccessPath.objects.get(external_id="agent:release-bot")  # saved all the same
    wanted = {(item["path"], item["rule"]) for item in body["exceptions_to_request"]}
    assert wanted == {
        (str(path.pk), "nhi5_overprivileged"),
        (str(path.pk), "missing_signoff_policy"),
    }
    assert AuditEvent.objects.filter(action="access_path.registered", path=path).count() == 1
    # Called again unchanged, the pipeline is told the same rules, holding nothing up.
    again = ci.post(url(action="register"), short_lived_agent, format="json")
    assert again.status_code == 200 and again.json()["verdict"] == "allowed"
    assert set(by_rule(again.json()["violations"])) >= {"nhi5_overprivileged"}


def test_an_edit_introducing_a_refused_violation_is_refused(pat, personas):
    path = services.path_register(
        actor=personas.pat,
        data={
            **agent_body(credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL),
            "owner_team": personas.teams.payments,
            "approved_by_team": personas.teams.payments,
            "merged_by_team": personas.teams.payments,
        },
    )
    with unchanged():
        response = pat.patch(url(path), {"credential_lifetime": "static"}, format="json")
    body = assert_error(response, 422)
    assert body["verdict"] == REFUSED
    assert AccessPath.objects.get(pk=path.pk).credential_lifetime == "ephemeral"


def test_an_unrelated_edit_of_a_path_already_breaking_it_is_allowed(pat, personas):
    """Found static agent credentials exist (an import records them): editing something
    else is not held up by what the path already broke."""
    path = services.path_register(
        actor=personas.system,
        data={**agent_body(), "owner_team": personas.teams.payments,
              "approved_by_team": personas.teams.payments,
              "merged_by_team": personas.teams.payments},
        enforce=False,
    )  # fmt: skip
    response = pat.patch(url(path), {"consumers": "The release bot's nightly run."}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verdict"] == "allowed"
    static = by_rule(body["violations"])["nhi7_agent_static"]
    assert static["blocks"] is None and static["enforcement"] == REFUSE
    assert AccessPath.objects.get(pk=path.pk).consumers == "The release bot's nightly run."


def test_a_violation_waived_by_an_approved_exception_is_allowed(pat, personas, settings, now):
    settings.NHI_POLICY = {"enforcement": {"nhi5_overprivileged": REFUSE}}
    created = pat.post(url(), narrow_body(), format="json")
    path = AccessPath.objects.get(pk=created.json()["id"])
    with unchanged():
        refused = pat.patch(url(path), {"privilege_scope": ADMIN}, format="json")
    assert_error(refused, 422)
    exception = services.exception_request(
        actor=personas.pat,
        path=path,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason=EXCEPTION_REASON,
        expires_at=now + 30 * DAY,
    )
    services.exception_approve(actor=personas.sam, exception=exception, reason="")
    response = pat.patch(url(path), {"privilege_scope": ADMIN}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["verdict"] == "allowed"
    admin = by_rule(response.json()["violations"])["nhi5_overprivileged"]
    assert admin["waived"] is True and admin["blocks"] is None
    # The detail lists it too, waived; the list row (what is counted) does not.
    detail = pat.get(url(path)).json()
    assert by_rule(detail["violations"])["nhi5_overprivileged"]["waived"] is True
    row = next(
        r for r in pat.get(url() + "?page_size=200").json()["results"] if r["id"] == str(path.pk)
    )
    assert "nhi5_overprivileged" not in {v["rule"] for v in row["violations"]}


def test_detail_and_list_rows_carry_violations(pat, personas, make_path):
    admin = make_path(name="admin-role", privilege_scope=ADMIN)
    plain = make_path(name="plain", risk_tier="medium", privilege_scope="s3:GetObject on exports/*")
    detail = pat.get(url(admin)).json()
    found = by_rule(detail["violations"])
    assert found["nhi5_overprivileged"]["owasp_nhi"] == "NHI5"
    assert set(found["nhi5_overprivileged"]) >= {"fix", "enforcement", "waived", "blocks"}
    rows = {r["id"]: r for r in pat.get(url() + "?page_size=200").json()["results"]}
    admin_row = by_rule(rows[str(admin.pk)]["violations"])
    assert admin_row["nhi5_overprivileged"] == {
        "rule": "nhi5_overprivileged",
        "framework_ids": ["NHI5", "PR.AA-05", "MEASURE 2.7"],
    }
    assert "missing_signoff_policy" in admin_row  # high risk, no sign-off policy
    assert rows[str(plain.pk)]["violations"] == []


def test_list_rows_violations_cost_the_same_queries_for_any_page(
    pat, make_path, django_assert_max_num_queries
):
    make_path(privilege_scope=ADMIN)
    with django_assert_max_num_queries(40) as one:
        pat.get(url() + "?page_size=200")
    for index in range(15):
        make_path(name=f"admin-{index}", privilege_scope=ADMIN)
    with django_assert_max_num_queries(len(one.captured_queries)):
        rows = pat.get(url() + "?page_size=200").json()["results"]
    assert len(rows) == 16
    assert all("nhi5_overprivileged" in {v["rule"] for v in row["violations"]} for row in rows)


def test_the_posture_rule_catalog(pat, ci, settings):
    catalog = pat.get(CATALOG).json()
    assert [rule["rule"] for rule in catalog] == [rule.code for rule in RULES]
    found = by_rule(catalog)
    assert found["nhi7_agent_static"]["enforcement"] == REFUSE
    assert found["stale_record"]["enforcement"] == INFORM
    assert found["nhi5_overprivileged"]["framework_ids"] == ["NHI5", "PR.AA-05", "MEASURE 2.7"]
    assert set(found["nhi5_overprivileged"]) == {
        "rule", "title", "owasp_nhi", "nist_csf", "nist_ai_rmf", "explanation", "fix",
        "framework_ids", "enforcement",
    }  # fmt: skip
    settings.NHI_POLICY = {"enforcement": {"stale_record": REFUSE}}
    assert by_rule(ci.get(CATALOG).json())["stale_record"]["enforcement"] == REFUSE
    assert_error(pat.get(CATALOG + "?rule=x"), 400)


def test_framework_filter(pat, personas, make_path):
    admin = make_path(name="admin-role", privilege_scope=ADMIN, risk_tier="medium")
    agent = services.path_register(
        actor=personas.system,
        data={**agent_body(privilege_scope="repo:read"), "owner_team": personas.teams.payments,
              "approved_by_team": personas.teams.payments, "risk_tier": "medium",
              "merged_by_team": personas.teams.payments},
        enforce=False,
    )  # fmt: skip
    plain = make_path(name="plain", risk_tier="medium", privilege_scope="repo:read")

    def listed(value: str) -> set[str]:
        response = pat.get(url(), {"framework": value, "page_size": 200})
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert listed("NHI5") == {str(admin.pk)}
    assert listed("GOVERN 3.2") == {str(agent.pk)}  # agent static and its sign-off policy
    assert listed("  pr.aa-05 ") == {str(admin.pk)}  # case and spacing do not matter
    assert str(plain.pk) not in listed("MEASURE 2.7")
    with unchanged():
        body = assert_error(pat.get(url(), {"framework": "NHI99"}), 400)
    assert list(body["errors"]) == ["framework"]
    assert body["errors"]["framework"][0].startswith(
        errors.UNKNOWN_FRAMEWORK_ID.format(value="NHI99", known="").split("Known")[0]
    )


def test_a_registration_carrying_its_sign_off_policy_and_provenance_is_told_the_rest(pat, ci):
    """What an agent team sends (docs/agents-and-pipelines.md): short-lived, narrow, its
    sign-off policy and its provenance. Evaluate, the dry run and the registration give
    the same verdict, and none of them asks for a sign-off policy it carries."""
    body = agent_body(
        credential_lifetime=AccessPath.CredentialLifetime.EPHEMERAL,
        privilege_scope="repo:contents:write on acme/release-notes",
        signoff_policy={
            "actions": ["deploy"],
            "allowed_scopes": ["repo:contents:write"],
            "data_classes": ["pii"],
            "max_records": 1000,
            "rollback_path": "Revert the release commit; the agent's next lease is refused.",
        },
    )
    evaluated = pat.post(EVALUATE, body, format="json")
    assert evaluated.status_code == 200, evaluated.content
    dry = ci.post(url(action="register") + "?dry_run=true", body, format="json")
    assert not AccessPath.objects.filter(external_id="agent:release-bot").exists()
    created = ci.post(url(action="register"), body, format="json")
    assert created.status_code == 201, created.content
    for answer in (evaluated.json(), dry.json(), created.json()):
        assert "missing_signoff_policy" not in by_rule(answer["violations"])
        assert "missing_provenance" not in by_rule(answer["violations"])
    assert evaluated.json()["verdict"] == created.json()["verdict"]
    path = AccessPath.objects.get(external_id="agent:release-bot")
    assert path.signoff_policy.max_records == 1000
