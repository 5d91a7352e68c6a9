"""In headless Chromium, at 1440x900 and 390 px: an agent's actions crossed the sign-off
policy of a payments agent credential; lee opens "My work", follows the sign-off tile to
the queue, approves the first request in place (focus moves to the next), rejects the
second with a reason, then changes the policy on the path page's Sign-off card. Every
page visited gets axe-core, the no-sideways-scroll check and a screenshot."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from registry.models import AgentAction, SignoffPolicy
from registry.services.signoff import agent_action_record, signoff_policy_set
from tests.browser.conftest import check_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

ROLLBACK = "Redeploy the previous release tag from the release pipeline."


@pytest.fixture
def waiting(personas, make_path):
    now = timezone.now()
    agent = make_path(kind="agent_credential", name="release-agent", now=now)
    signoff_policy_set(
        actor=personas.lee,
        path=agent,
        data={"actions": ["deploy"], "data_classes": ["pii"], "rollback_path": ROLLBACK},
        now=now,
    )
    actions = [
        agent_action_record(actor=personas.payments_ci, path=agent, data=data, now=now)
        for data in ({"action": "deploy"}, {"action": "export", "data_classes": ["pii"]})
    ]
    return agent, actions


def test_a_lead_decides_sign_off_requests_in_place(sized_page, live_server, personas, waiting):
    page = sized_page
    agent, (deploy, export) = waiting
    sign_in(page, live_server, "lee")
    expect(page).to_have_url(live_server.url + reverse("registry:my-work"))
    expect(page.locator('[data-work-count="agent-signoffs"]')).to_have_text("2")
    page.locator('[data-work="agent-signoffs"]').click()
    expect(page.get_by_role("heading", level=1, name="Sign-off queue")).to_be_visible()
    first = page.locator(f"#signoff-{deploy.pk}")
    expect(first).to_contain_text("deploy always needs sign-off")
    expect(first).to_contain_text(ROLLBACK)
    check_page(page, "signoff-queue")

    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first).to_contain_text("Signed off: deploy on release-agent.")
    expect(page.locator(f"#signoff-{export.pk} h3")).to_be_focused()
    check_page(page, "signoff-in-place")

    second = page.locator(f"#signoff-{export.pk}")
    second.get_by_label("Why reject").fill("Exports of personal data wait for the DPO.")
    second.get_by_role("button", name="Reject", exact=True).click()
    expect(second).to_contain_text("Refused: export on release-agent.")
    assert AgentAction.objects.get(pk=deploy.pk).signoff == "approved"
    assert AgentAction.objects.get(pk=export.pk).signoff == "rejected"

    page.goto(live_server.url + reverse("registry:path-detail", args=[agent.pk]))
    card = page.locator("#signoff")
    expect(card).to_contain_text("Refused")
    card.get_by_text("Change the sign-off policy").click()
    card.get_by_label("Most records without sign-off").fill("500")
    card.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_text("Sign-off policy saved.")).to_be_visible()
    check_page(page, "signoff-card")
    assert SignoffPolicy.objects.get(path=agent).max_records == 500
