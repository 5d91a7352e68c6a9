"""The sign-off model's API (api/signoff.py): a path's policy (GET/PUT), agents'
actions recorded (POST), polled (GET) and decided (POST decide). The persona matrix
(tests/api/authorization_matrix.py) covers who gets which status; these follow the flows
an agent team and its lead go through."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AgentAction, AuditEvent, Notification, SignoffPolicy
from registry.rules import errors
from tests.api.helpers import assert_error, bearer, issue, session, unchanged
from tests.conftest import path_data

pytestmark = pytest.mark.django_db

POLICY = {
    "actions": ["deploy"],
    "allowed_scopes": ["repo:read"],
    "data_classes": ["pii"],
    "max_records": 1000,
    "rollback_path": "Redeploy the previous release tag from the release pipeline.",
}


def policy_url(path) -> str:
    return reverse("access-path-signoff-policy", args=[path.pk])


def actions_url(path) -> str:
    return reverse("access-path-agent-actions", args=[path.pk])


@pytest.fixture
def agent(make_path, now):
    return make_path(now=now, kind="agent_credential", name="release-agent")


def test_a_token_cannot_change_the_policy_and_the_refusal_is_recorded(agent, ci, lee):
    assert lee.put(policy_url(agent), POLICY, format="json").status_code == 200
    with unchanged():
        response = ci.put(policy_url(agent), {**POLICY, "actions": []}, format="json")
    assert_error(response, 403, errors.SIGNOFF_POLICY_NOT_BY_TOKEN)
    refusal = AuditEvent.objects.filter(action="request.refused").latest("seq")
    assert refusal.reason == errors.SIGNOFF_POLICY_NOT_BY_TOKEN
    assert SignoffPolicy.objects.get(path=agent).actions == ["deploy"]


def test_a_lead_sets_and_reads_it_with_its_version(agent, lee, pat, dana):
    assert lee.get(policy_url(agent)).status_code == 404  # none yet
    with unchanged():
        assert_error(pat.put(policy_url(agent), POLICY, format="json"), 403, errors.NOT_A_LEAD)
    created = lee.put(policy_url(agent), POLICY, format="json", HTTP_IF_MATCH='W/"0"')
    assert created.status_code == 200, created.content
    assert created["ETag"] == 'W/"1"'
    read = pat.get(policy_url(agent))
    assert read.status_code == 200 and read.json()["rollback_path"] == POLICY["rollback_path"]
    assert read.json()["version"] == 1
    stale = lee.put(policy_url(agent), {**POLICY, "max_records": 5}, format="json",
                    HTTP_IF_MATCH='W/"7"')  # fmt: skip
    assert_error(stale, 412, errors.SIGNOFF_POLICY_STALE.format(expected=7, actual=1))
    # Outsiders learn nothing.
    assert_error(dana.get(policy_url(agent)), 404)
    assert_error(dana.put(policy_url(agent), POLICY, format="json"), 404)


def test_bad_input_is_a_400_naming_the_field(agent, lee):
    with unchanged():
        response = lee.put(
            policy_url(agent), {**POLICY, "max_records": -2, "rollback_path": ""}, format="json"
        )
    assert_error(
        response,
        400,
        errors={"max_records": errors.SIGNOFF_RECORDS, "rollback_path": errors.REQUIRED},
    )
    assert_error(lee.put(policy_url(agent), ["deploy"], format="json"), 400)


def test_the_agents_flow_record_poll_and_a_lead_decides(agent, ci, lee, personas):
    lee.put(policy_url(agent), POLICY, format="json")
    within = ci.post(actions_url(agent), {"action": "read", "scopes": ["repo:read"]}, format="json")
    assert within.status_code == 201, within.content
    assert (within.json()["signoff"], within.json()["reasons"]) == ("not_needed", [])
    Notification.objects.all().delete()
    over = ci.post(
        actions_url(agent),
        {"action": "export", "data_classes": ["pii"], "records": 1200,
         "summary": "Export for the finance close.", "reference": "https://ci.example.com/r/9"},
        format="json",
    )  # fmt: skip
    assert over.status_code == 201, over.content
    body = over.json()
    assert {"id", "signoff", "reasons"} <= set(body)
    assert body["signoff"] == "pending"
    assert body["reasons"] == [
        "data class pii needs sign-off",
        "1,200 records is over the maximum of 1,000",
    ]
    assert over["Location"] == f"/api/v1/agent-actions/{body['id']}/"
    assert {(n.team.slug, n.audience) for n in Notification.objects.all()} == {
        ("payments", "leads")
    }
    poll = reverse("agent-action-detail", args=[body["id"]])
    decide = reverse("agent-action-decide", args=[body["id"]])
    assert ci.get(poll).json()["signoff"] == "pending"
    with unchanged():
        refused = ci.post(decide, {"approve": True}, format="json")
    assert_error(refused, 403, errors.SIGNOFF_DECISION_NOT_BY_TOKEN)
    assert_error(lee.post(decide, {"reason": "yes"}, format="json"), 400, errors=["approve"])
    approved = lee.post(decide, {"approve": True, "reason": "Finance asked."}, format="json")
    assert approved.status_code == 200, approved.content
    assert ci.get(poll).json()["signoff"] == "approved"
    assert ci.get(poll).json()["decided_by"] == "lee"
    assert_error(lee.post(decide, {"approve": False, "reason": "No."}, format="json"), 409)
    # Outsiders: 404 for the action, and for recording on a path they cannot see.
    dana = session(personas.users.dana)
    assert_error(dana.get(poll), 404)
    assert_error(dana.post(decide, {"approve": True}, format="json"), 404)
    assert_error(dana.post(actions_url(agent), {"action": "read"}, format="json"), 404)


def test_a_bad_action_is_a_400_naming_the_field(agent, ci):
    with unchanged():
        response = ci.post(actions_url(agent), {"action": "", "records": "lots"}, format="json")
    assert_error(
        response, 400, errors={"action": errors.REQUIRED, "records": errors.SIGNOFF_RECORDS}
    )
    assert not AgentAction.objects.exists()


def test_a_pipeline_registers_a_path_with_its_policy(personas, now):
    pipeline = bearer(issue(personas, team="payments")[1])
    body = path_data(owner_team="payments", kind="agent_credential", external_id="agent:42")
    body |= {"approved_by": "lee", "approved_by_team": "payments", "signoff_policy": POLICY}
    created = pipeline.post(reverse("access-path-register"), body, format="json")
    assert created.status_code == 201, created.content
    policy = SignoffPolicy.objects.get(path_id=created.json()["id"])
    assert policy.max_records == 1000 and policy.updated_by_label.startswith("token ")
    again = pipeline.post(reverse("access-path-register"), body, format="json")
    assert again.status_code == 200, again.content
    changed = {**body, "signoff_policy": {**POLICY, "max_records": None}}
    refused = pipeline.post(reverse("access-path-register"), changed, format="json")
    assert_error(refused, 400, errors={"signoff_policy": errors.SIGNOFF_POLICY_DIFFERS})
    bad = {**body, "external_id": "agent:43", "signoff_policy": {**POLICY, "rollback_path": ""}}
    with unchanged():
        response = pipeline.post(reverse("access-path-list"), bad, format="json")
    assert_error(response, 400, errors={"signoff_policy.rollback_path": errors.REQUIRED})
