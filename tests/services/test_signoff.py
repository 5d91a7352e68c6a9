"""The human sign-off model (issue 18, item 4): a path's sign-off policy is set by a lead
of the owning team (security for a critical path), never by a token; agents record
their actions against it; one above a threshold waits for a lead, who is told; the
recorder and tokens never decide. And the guard rails a token can never relax alone."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import (
    AccessPath,
    AgentAction,
    AuditEvent,
    ChangeRequest,
    Notification,
    PathFacts,
    SignoffPolicy,
)
from registry.notifications.wording import describe_notification
from registry.rules import errors
from registry.rules.actors import Actor
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, StaleVersion
from registry.rules.facts import RULE_BITS
from registry.rules.posture import Rule
from registry.rules.signoff import thresholds_crossed
from registry.services.signoff import (
    agent_action_decide,
    agent_action_record,
    signoff_policy_set,
)
from registry.services.tokens import token_create
from tests.conftest import NOW, path_data

pytestmark = pytest.mark.django_db

POLICY = {
    "actions": ["deploy", "delete_data"],
    "allowed_scopes": ["repo:read", "repo:write"],
    "data_classes": ["pii"],
    "max_records": 1000,
    "rollback_path": "Redeploy the previous release tag; restore the table from last night.",
}
BIT = RULE_BITS[Rule.MISSING_SIGNOFF_POLICY]


def flagged(path) -> bool:
    return bool(PathFacts.objects.get(path_id=path.pk).flags & BIT)


def audit_count() -> int:
    return AuditEvent.objects.exclude(action__startswith="security.").count()


@pytest.fixture
def agent_path(make_path):
    return make_path(kind=AccessPath.Kind.AGENT_CREDENTIAL, name="release-agent")


@pytest.fixture
def with_policy(agent_path, personas):
    signoff_policy_set(actor=personas.lee, path=agent_path, data=POLICY, now=NOW)
    return agent_path


# --- thresholds ------------------------------------------------------------------------


def test_thresholds_in_words():
    policy = SignoffPolicy(**POLICY)
    crossed = thresholds_crossed(
        policy, action="deploy", scopes=["repo:read", "admin:org"], data_classes=["pii", "logs"],
        records=1200,
    )  # fmt: skip
    assert crossed == [
        "deploy always needs sign-off",
        "scope admin:org is not allowed",
        "data class pii needs sign-off",
        "1,200 records is over the maximum of 1,000",
    ]
    within = thresholds_crossed(
        policy, action="read", scopes=["repo:read"], data_classes=["logs"], records=1000
    )
    assert within == []
    no_scopes = SignoffPolicy(**{**POLICY, "allowed_scopes": []})
    assert (
        thresholds_crossed(no_scopes, action="x", scopes=["a"], data_classes=[], records=None) == []
    )
    assert thresholds_crossed(None, action="read", scopes=[], data_classes=[], records=None) == [
        "the path has no sign-off policy"
    ]


# --- the policy -----------------------------------------------------------------------


def test_a_token_can_never_set_or_change_the_policy(personas, agent_path, with_policy):
    before = audit_count()
    for actor in (
        personas.payments_ci,
        Actor.personal_token(personas.users.lee, token_id="tok_lee", name="lee's"),
    ):
        with pytest.raises(NotAllowed) as refused:
            signoff_policy_set(
                actor=actor, path=agent_path, data={**POLICY, "actions": []}, now=NOW
            )
        assert refused.value.message == errors.SIGNOFF_POLICY_NOT_BY_TOKEN
    policy = SignoffPolicy.objects.get(path=agent_path)
    assert policy.actions == POLICY["actions"] and policy.version == 1
    assert audit_count() == before


def test_a_member_who_is_not_a_lead_is_refused(personas, agent_path):
    with pytest.raises(NotAllowed) as refused:
        signoff_policy_set(actor=personas.pat, path=agent_path, data=POLICY, now=NOW)
    assert refused.value.message == errors.NOT_A_LEAD
    with pytest.raises(NotAllowed) as refused:
        signoff_policy_set(actor=personas.otto, path=agent_path, data=POLICY, now=NOW)
    assert refused.value.message == errors.OUTSIDER
    assert not SignoffPolicy.objects.exists()


def test_a_lead_sets_it_audited_and_the_rule_clears(personas, agent_path):
    assert flagged(agent_path)
    policy = signoff_policy_set(
        actor=personas.lee, path=agent_path, data=POLICY, reason="Agreed with the team.", now=NOW
    )
    assert not flagged(agent_path)
    assert (policy.version, policy.max_records, policy.updated_by_label) == (1, 1000, "lee")
    created = AuditEvent.objects.get(action="signoff_policy.created")
    assert created.path_id == agent_path.pk and created.reason == "Agreed with the team."
    assert created.changes["rollback_path"] == [None, POLICY["rollback_path"]]
    changed = signoff_policy_set(
        actor=personas.lee, path=agent_path, data={**POLICY, "max_records": 50},
        expected_version=1, now=NOW,
    )  # fmt: skip
    assert changed.version == 2
    updated = AuditEvent.objects.get(action="signoff_policy.updated")
    assert updated.changes == {"max_records": [1000, 50]}
    # The same values again change nothing.
    same = {**POLICY, "max_records": 50}
    assert signoff_policy_set(actor=personas.lee, path=agent_path, data=same, now=NOW).version == 2
    with pytest.raises(StaleVersion) as stale:
        signoff_policy_set(
            actor=personas.lee, path=agent_path, data=POLICY, expected_version=1, now=NOW
        )
    assert stale.value.message == errors.SIGNOFF_POLICY_STALE.format(expected=1, actual=2)


def test_a_critical_path_needs_security(personas, make_path, sid):
    critical = make_path(risk_tier="critical", name="prod-db-admin")
    with pytest.raises(NotAllowed) as refused:
        signoff_policy_set(actor=personas.lee, path=critical, data=POLICY, now=NOW)
    assert refused.value.message == errors.SIGNOFF_CRITICAL_NEEDS_SECURITY
    assert signoff_policy_set(actor=sid, path=critical, data=POLICY, now=NOW).version == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"actions": "deploy"}, "actions", errors.SIGNOFF_SLUGS.format(count=50)),
        ({"data_classes": ["PII data"]}, "data_classes", errors.SIGNOFF_SLUGS.format(count=50)),
        ({"allowed_scopes": [""]}, "allowed_scopes", errors.SIGNOFF_SCOPES.format(count=50)),
        ({"max_records": -1}, "max_records", errors.SIGNOFF_RECORDS),
        ({"max_records": "many"}, "max_records", errors.SIGNOFF_RECORDS),
        ({"rollback_path": "  "}, "rollback_path", errors.REQUIRED),
        ({"colour": "red"}, "colour", errors.UNKNOWN_FIELD),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(personas, agent_path, data, field, message):
    with pytest.raises(Invalid) as refused:
        signoff_policy_set(actor=personas.lee, path=agent_path, data={**POLICY, **data}, now=NOW)
    assert refused.value.errors[field] == [message]
    assert not SignoffPolicy.objects.exists()


def test_a_credential_in_the_policy_is_refused(personas, agent_path):
    leaked = "AKIA" + "IOSFODNN7EXAMPLE"
    with pytest.raises(Invalid) as refused:
        signoff_policy_set(
            actor=personas.lee, path=agent_path,
            data={**POLICY, "rollback_path": f"Use key {leaked} to roll back."}, now=NOW,
        )  # fmt: skip
    assert "rollback_path" in refused.value.errors
    assert refused.value.errors["rollback_path"][0].startswith("This looks like a secret")
    assert not SignoffPolicy.objects.exists()


def test_a_revoked_path_takes_no_policy(personas, agent_path):
    services.path_revoke(actor=personas.lee, path=agent_path, reason="Agent retired.", now=NOW)
    with pytest.raises(InvalidTransition):
        signoff_policy_set(actor=personas.lee, path=agent_path, data=POLICY, now=NOW)


# --- registering with a policy ----------------------------------------------------------


def test_a_token_may_include_a_policy_when_it_registers(personas):
    data = path_data(
        owner_team=personas.teams.payments, kind="agent_credential", external_id="agent-7",
        signoff_policy=POLICY,
    )  # fmt: skip
    path, created = services.path_register_or_update(actor=personas.payments_ci, data=data, now=NOW)
    assert created and SignoffPolicy.objects.get(path=path).actions == POLICY["actions"]
    assert not flagged(path)
    assert AuditEvent.objects.filter(action="signoff_policy.created", path=path).exists()
    # The pipeline runs again: the same policy passes, a different one is refused.
    services.path_register_or_update(actor=personas.payments_ci, data=data, now=NOW)
    with pytest.raises(Invalid) as refused:
        services.path_register_or_update(
            actor=personas.payments_ci,
            data={**data, "signoff_policy": {**POLICY, "actions": []}},
            now=NOW,
        )
    assert refused.value.errors == {"signoff_policy": [errors.SIGNOFF_POLICY_DIFFERS]}
    assert SignoffPolicy.objects.get(path=path).version == 1


def test_a_bad_nested_policy_names_its_field_and_registers_nothing(personas):
    data = path_data(
        owner_team=personas.teams.payments, external_id="agent-8",
        signoff_policy={**POLICY, "rollback_path": ""},
    )  # fmt: skip
    with pytest.raises(Invalid) as refused:
        services.path_register(actor=personas.payments_ci, data=data, now=NOW)
    assert refused.value.errors == {"signoff_policy.rollback_path": [errors.REQUIRED]}
    assert not AccessPath.objects.filter(external_id="agent-8").exists()


# --- agents' actions --------------------------------------------------------------------


def test_an_action_within_the_policy_needs_no_signoff(personas, with_policy):
    Notification.objects.all().delete()
    action = agent_action_record(
        actor=personas.payments_ci, path=with_policy,
        data={"action": "open_pr", "scopes": ["repo:write"], "records": 3}, now=NOW,
    )  # fmt: skip
    assert (action.signoff, action.signoff_reasons) == ("not_needed", [])
    assert action.recorded_by_label == personas.payments_ci.label
    assert AuditEvent.objects.filter(action="agent_action.recorded", path=with_policy).exists()
    assert not Notification.objects.exists()


def test_an_action_over_a_threshold_waits_and_only_the_leads_hear(personas, with_policy):
    Notification.objects.all().delete()
    action = agent_action_record(
        actor=personas.payments_ci, path=with_policy,
        data={"action": "export", "scopes": ["admin:org"], "data_classes": ["pii"],
              "records": 1200, "summary": "Quarterly export for finance."},
        now=NOW,
    )  # fmt: skip
    assert action.signoff == "pending"
    assert action.signoff_reasons == [
        "scope admin:org is not allowed",
        "data class pii needs sign-off",
        "1,200 records is over the maximum of 1,000",
    ]
    told = list(Notification.objects.all())
    assert {(n.team.slug, n.audience, n.reason) for n in told} == {
        ("payments", "leads", "signoff_request")
    }
    assert "waits for your sign-off (scope admin:org is not allowed;" in describe_notification(
        told[0]
    )


def test_without_a_policy_every_action_waits(personas, agent_path):
    action = agent_action_record(
        actor=personas.pat, path=agent_path, data={"action": "read"}, now=NOW
    )
    assert action.signoff == "pending"
    assert action.signoff_reasons == ["the path has no sign-off policy"]


def test_recording_is_for_the_owning_team(personas, make_path, agent_path):
    with pytest.raises(NotAllowed) as refused:
        agent_action_record(actor=personas.dana, path=agent_path, data={"action": "x"}, now=NOW)
    assert refused.value.message == errors.NOT_A_MEMBER
    with pytest.raises(Invalid) as bad:
        agent_action_record(
            actor=personas.pat, path=agent_path,
            data={"action": "Deploy Now", "records": -3, "reference": "ftp://x"}, now=NOW,
        )  # fmt: skip
    assert set(bad.value.errors) == {"action", "records", "reference"}
    assert bad.value.errors["records"] == [errors.SIGNOFF_RECORDS]
    assert not AgentAction.objects.exists()


def test_the_recorder_and_tokens_never_decide_a_lead_does(personas, with_policy):
    by_lee = agent_action_record(
        actor=personas.lee, path=with_policy, data={"action": "deploy"}, now=NOW
    )
    with pytest.raises(NotAllowed) as refused:
        agent_action_decide(actor=personas.lee, action=by_lee, approve=True, now=NOW)
    assert refused.value.message == errors.SELF_REVIEW_FORBIDDEN

    token, _ = token_create(
        actor=personas.lee, name="agent", scopes=["read", "write"], team=personas.teams.payments,
        now=NOW,
    )  # fmt: skip
    via_token = Actor.for_token(token)
    action = agent_action_record(
        actor=via_token, path=with_policy, data={"action": "deploy"}, now=NOW
    )
    assert action.token_id == token.pk
    # lee issued the token that recorded it: lee is its recorder.
    with pytest.raises(NotAllowed) as refused:
        agent_action_decide(actor=personas.lee, action=action, approve=True, now=NOW)
    assert refused.value.message == errors.SELF_REVIEW_FORBIDDEN
    for token_actor in (
        via_token,
        Actor.personal_token(personas.users.sam, token_id="tok_sam", name="sam's"),
    ):
        with pytest.raises(NotAllowed) as refused:
            agent_action_decide(actor=token_actor, action=action, approve=True, now=NOW)
        assert refused.value.message == errors.SIGNOFF_DECISION_NOT_BY_TOKEN
    with pytest.raises(NotAllowed) as refused:
        agent_action_decide(actor=personas.pat, action=action, approve=True, now=NOW)
    assert refused.value.message == errors.NOT_A_LEAD
    assert AgentAction.objects.get(pk=action.pk).signoff == "pending"


def test_a_lead_decides_audited_and_the_recorder_is_told(personas, with_policy):
    action = agent_action_record(
        actor=personas.payments_ci, path=with_policy, data={"action": "deploy"}, now=NOW
    )
    Notification.objects.all().delete()
    with pytest.raises(Invalid) as bad:
        agent_action_decide(actor=personas.lee, action=action, approve=False, now=NOW)
    assert bad.value.errors == {"reason": [errors.REQUIRED]}
    decided = agent_action_decide(
        actor=personas.lee, action=action, approve=False, reason="Not during the freeze.", now=NOW
    )
    assert (decided.signoff, decided.decided_by_label, decided.version) == ("rejected", "lee", 2)
    event = AuditEvent.objects.get(action="agent_action.rejected")
    assert event.changes == {"signoff": ["pending", "rejected"]}
    assert event.reason == "Not during the freeze."
    told = Notification.objects.get()
    assert (told.team.slug, told.audience) == ("payments", "members")
    assert describe_notification(told).endswith("was refused by lee.")
    with pytest.raises(InvalidTransition) as again:
        agent_action_decide(actor=personas.sam, action=action, approve=True, now=NOW)
    assert again.value.message == errors.AGENT_ACTION_NOT_PENDING.format(status="rejected")


def test_on_a_critical_path_security_decides(personas, make_path, sid):
    critical = make_path(risk_tier="critical", kind="agent_credential", name="prod-agent")
    Notification.objects.all().delete()
    action = agent_action_record(
        actor=personas.payments_ci, path=critical, data={"action": "deploy"}, now=NOW
    )
    assert {(n.team.slug, n.audience) for n in Notification.objects.all()} == {
        ("security", "members")
    }
    with pytest.raises(NotAllowed) as refused:
        agent_action_decide(actor=personas.lee, action=action, approve=True, now=NOW)
    assert refused.value.message == errors.SIGNOFF_CRITICAL_NEEDS_SECURITY
    assert agent_action_decide(actor=sid, action=action, approve=True, now=NOW).signoff == (
        "approved"
    )


# --- the guard rails a token never relaxes alone -----------------------------------------


@pytest.mark.parametrize("tier", ["medium", "high", "critical"])
def test_a_token_cannot_lower_the_risk_on_any_tier(personas, make_path, tier, sid):
    path = make_path(risk_tier=tier, name=f"svc-{tier}")
    held = services.path_update(
        actor=personas.payments_ci, path=path, changes={"risk_tier": "low"}, now=NOW
    ).held_change
    assert held is not None and held.approver == ("security" if tier == "critical" else "lead")
    assert AccessPath.objects.get(pk=path.pk).risk_tier == tier
    # Only a person approves: a lead's (or security's) own token neither.
    for token_actor in (
        Actor.personal_token(personas.users.lee, token_id="tok_lee", name="lee's"),
        Actor.personal_token(sid.user, token_id="tok_sid", name="sid's"),
    ):
        with pytest.raises(NotAllowed) as refused:
            services.change_request_decide(actor=token_actor, request=held, approve=True, now=NOW)
        assert refused.value.message == errors.HUMAN_REQUIRED
    approver = sid if tier == "critical" else personas.lee
    services.change_request_decide(actor=approver, request=held, approve=True, now=NOW)
    assert AccessPath.objects.get(pk=path.pk).risk_tier == "low"


@pytest.mark.parametrize("tier", ["low", "medium", "high", "critical"])
def test_a_token_cannot_clear_signoff_on_any_tier(personas, make_path, tier):
    path = make_path(risk_tier=tier, requires_human_signoff=True, name=f"signed-{tier}")
    held = services.path_update(
        actor=personas.payments_ci, path=path, changes={"requires_human_signoff": False}, now=NOW
    ).held_change
    assert held is not None and held.changes == {"requires_human_signoff": False}
    assert AccessPath.objects.get(pk=path.pk).requires_human_signoff is True
    assert ChangeRequest.objects.get().status == "pending"


def test_a_security_reviewers_own_token_is_held_too(personas, path):
    sam_token = Actor.personal_token(personas.users.sam, token_id="tok_sam", name="sam's")
    held = services.path_update(
        actor=sam_token, path=path, changes={"risk_tier": "low"}, now=NOW
    ).held_change
    assert held is not None and AccessPath.objects.get(pk=path.pk).risk_tier == "high"
