"""The sign-off pages (registry/web/views/signoff.py): the path page's "Sign-off" card
(a lead's edit form), the leads' queue decided in place, and the My work tile."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AgentAction, SignoffPolicy
from registry.rules import errors
from registry.services.signoff import agent_action_record, signoff_policy_set
from tests.conftest import NOW
from tests.web.helpers import detail_url, text

pytestmark = pytest.mark.django_db

FORM = {
    "actions": "deploy, delete_data",
    "allowed_scopes": "repo:read\nrepo:write",
    "data_classes": "pii",
    "max_records": "1000",
    "rollback_path": "Redeploy the previous release tag from the pipeline.",
    "reason": "",
    "version": "0",
}
QUEUE = reverse("registry:queue-signoff")


@pytest.fixture
def agent(make_path):
    return make_path(kind="agent_credential", name="release-agent")


def signed_in(client, user):
    client.force_login(user)
    return client


def edit_url(path) -> str:
    return reverse("registry:path-signoff-policy", args=[path.pk])


def decide_url(action, decision: str) -> str:
    return reverse("registry:queue-signoff-decide", args=[action.pk, decision])


def test_the_card_offers_the_form_to_a_lead_only(client, personas, agent):
    member = text(signed_in(client, personas.users.pat).get(detail_url(agent)))
    assert "Sign-off" in member and "This path needs a sign-off policy" in member
    assert "Set a sign-off policy" not in member
    refused = client.post(edit_url(agent), FORM)
    assert refused.status_code == 403
    assert errors.NOT_A_LEAD in text(refused)
    assert not SignoffPolicy.objects.exists()
    lead = text(signed_in(client, personas.users.lee).get(detail_url(agent)))
    assert "Set a sign-off policy" in lead


def test_a_lead_saves_the_policy_from_the_page(client, personas, agent):
    signed_in(client, personas.users.lee)
    response = client.post(edit_url(agent), FORM)
    assert response.status_code == 302
    policy = SignoffPolicy.objects.get(path=agent)
    assert policy.actions == ["deploy", "delete_data"]
    assert policy.allowed_scopes == ["repo:read", "repo:write"]
    assert policy.max_records == 1000
    page = text(client.get(detail_url(agent)))
    assert "Redeploy the previous release tag" in page and "Change the sign-off policy" in page
    stale = client.post(edit_url(agent), {**FORM, "max_records": "5", "version": "0"})
    assert stale.status_code == 409
    assert errors.SIGNOFF_POLICY_STALE.format(expected=0, actual=1) in text(stale)


def test_bad_input_names_the_field_and_a_credential_is_not_shown_back(client, personas, agent):
    signed_in(client, personas.users.lee)
    leaked = "ghp_" + "a1B2" * 9
    response = client.post(
        edit_url(agent), {**FORM, "max_records": "-4", "rollback_path": f"use {leaked}"}
    )
    assert response.status_code == 400
    page = text(response)
    assert errors.SIGNOFF_RECORDS in page
    assert leaked not in page
    assert not SignoffPolicy.objects.exists()


def pending(personas, path, action="deploy", actor=None):
    return agent_action_record(
        actor=actor or personas.payments_ci, path=path, data={"action": action}, now=NOW
    )


def test_the_queue_shows_a_leads_requests_and_decides_in_place(client, personas, agent):
    signoff_policy_set(
        actor=personas.lee, path=agent,
        data={"actions": ["deploy"], "rollback_path": "Redeploy release N-1."}, now=NOW,
    )  # fmt: skip
    first, second = pending(personas, agent), pending(personas, agent, "deploy")
    assert "No sign-off requests waiting" in text(signed_in(client, personas.users.pat).get(QUEUE))
    signed_in(client, personas.users.lee)
    page = text(client.get(QUEUE))
    assert "deploy always needs sign-off" in page and "Redeploy release N-1." in page
    outcome = client.post(decide_url(first, "approve"), {"next": second.pk}, HTTP_HX_REQUEST="true")
    assert outcome.status_code == 200
    assert "Signed off: deploy on release-agent." in text(outcome)
    assert f'data-next="signoff-{second.pk}"' in outcome.content.decode()
    assert AgentAction.objects.get(pk=first.pk).signoff == "approved"
    # A rejection needs its reason: the row comes back with why, nothing changed.
    again = client.post(decide_url(second, "reject"), {"reason": ""}, HTTP_HX_REQUEST="true")
    assert again.status_code == 400
    assert AgentAction.objects.get(pk=second.pk).signoff == "pending"
    done = client.post(decide_url(second, "reject"), {"reason": "Not during the freeze."})
    assert done.status_code == 302 and done["Location"].startswith(QUEUE)
    assert AgentAction.objects.get(pk=second.pk).signoff == "rejected"


def test_the_recorder_cannot_decide_and_outsiders_get_404(client, personas, agent):
    mine = pending(personas, agent, actor=personas.lee)
    signed_in(client, personas.users.lee)
    page = text(client.get(QUEUE))
    assert errors.SELF_REVIEW_FORBIDDEN in page
    refused = client.post(decide_url(mine, "approve"), {}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert AgentAction.objects.get(pk=mine.pk).signoff == "pending"
    signed_in(client, personas.users.dana)
    assert client.post(decide_url(mine, "approve"), {}).status_code == 404
    assert client.post(edit_url(agent), FORM).status_code == 404


def test_my_work_counts_the_requests_for_a_lead(client, personas, agent):
    pending(personas, agent)
    page = signed_in(client, personas.users.lee).get(reverse("registry:my-work")).content.decode()
    assert 'data-work-count="agent-signoffs">1<' in page
    page = signed_in(client, personas.users.pat).get(reverse("registry:my-work")).content.decode()
    assert 'data-work-count="agent-signoffs">0<' in page


def test_the_queue_costs_the_same_queries_however_many_rows(
    client, personas, make_path, django_assert_max_num_queries
):
    paths = [make_path(kind="agent_credential", name=f"agent-{i}") for i in range(6)]
    pending(personas, paths[0])
    signed_in(client, personas.users.lee)
    with django_assert_max_num_queries(30) as few:
        assert client.get(QUEUE).status_code == 200
    for path in paths:
        for _ in range(3):
            pending(personas, path)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(QUEUE)
    assert response.content.decode().count('class="card queue-item"') == 19
