"""End to end in headless Chromium, at desktop and phone sizes: lee, the payments lead,
manages the team on its page: adds otto as a member, makes otto a lead, removes otto
with a reason; then creates an API token, copies it with the Copy button, and reloads
the page: the secret is gone and no second token was created. axe-core, the sideways
scroll check and a screenshot on every page of the flow."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from registry.models import ApiToken, AuditEvent, Membership
from tests.browser.conftest import check_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

REMOVE_REASON = "otto joined for the payout migration, which is finished."


def members() -> dict[str, str]:
    rows = Membership.objects.filter(team__slug="payments", ended_at__isnull=True)
    return {m.user.username: m.role for m in rows.select_related("user")}


def submit(page, button) -> None:
    with page.expect_navigation():
        button.click()


def test_a_lead_manages_members_and_creates_a_token_once(sized_page, live_server, personas):
    page = sized_page
    team_url = f"{live_server.url}/teams/payments/"
    sign_in(page, live_server, "lee")
    page.goto(team_url)
    check_page(page, "team-members")

    # Add otto as a member.
    page.get_by_text("Add a member", exact=True).click()
    page.get_by_label("Username", exact=True).fill("otto")
    page.get_by_label("Role", exact=True).select_option("member")
    submit(page, page.get_by_role("button", name="Add member", exact=True))
    expect(page.locator(".messages")).to_contain_text("Added otto to Payments as a member.")
    assert members()["otto"] == "member"
    check_page(page, "team-member-added")

    # Promote otto to lead.
    submit(page, page.get_by_role("button", name="Make lead otto", exact=True))
    expect(page.locator(".messages")).to_contain_text("otto is now a lead.")
    assert members()["otto"] == "lead"
    check_page(page, "team-member-promoted")

    # Remove otto, saying why.
    page.get_by_label("Why remove otto", exact=True).fill(REMOVE_REASON)
    submit(page, page.get_by_role("button", name="Remove otto", exact=True))
    expect(page.locator(".messages")).to_contain_text("Removed otto from Payments.")
    assert "otto" not in members()
    ended = AuditEvent.objects.get(action="membership.ended")
    assert (ended.actor_label, ended.reason) == ("lee", REMOVE_REASON)
    otto = get_user_model().objects.get(username="otto")
    assert Membership.objects.get(user=otto).ended_at is not None
    check_page(page, "team-member-removed")

    # Create a token: shown once, copied with the button.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_text("Create a token", exact=True).click()
    page.get_by_label("Name", exact=True).fill("payout deploys")
    submit(page, page.get_by_role("button", name="Create token", exact=True))
    secret_field = page.get_by_label("Token", exact=True)
    secret = secret_field.input_value()
    assert secret.startswith("nhir_")
    # token_reveal.js made this history entry the team page: a reload is a GET of it.
    assert page.url == team_url
    check_page(page, "team-token-shown")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.reload()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    assert page.get_by_label("Token", exact=True).count() == 0
    assert secret not in page.content()
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["payout deploys"]
    check_page(page, "team-token-reloaded")
