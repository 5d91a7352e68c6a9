"""In headless Chromium, at 1440x900 and 390 px: signing in lands on "My work"; sam opens
the claim queue, approves one claim in place (focus moves to the next), then approves
the rest in one bulk request; lee answers a transfer offered to payments in place; pat
sees his team's reviews due. Every page visited gets axe-core, the no-sideways-scroll
check and a screenshot.

Clicks to approve 15 claims (measured below): before this page, open each path from the
security queue, approve, come back: 3 per claim, 45. Now: in place, 1 per claim; in
bulk, "Select all" and "Approve selected": 2 for all of them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from registry import services
from registry.models import Claim
from tests.browser.conftest import check_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMS = 15
CLAIM_REASON = "The payments nightly jobs run under this identity."


@pytest.fixture
def work(personas, make_path):
    now = timezone.now()
    teams = personas.teams
    claims = []
    for i in range(CLAIMS):
        path = make_path(
            name=f"legacy-bot-{i:02}",
            owner_team=None,
            steward_team=teams.platform,
            justification="",
            ticket_url="",
            privilege_scope="AdministratorAccess" if i == 0 else "read on the reports bucket",
            now=now - dt.timedelta(hours=CLAIMS - i),
        )
        claims.append(
            services.path_claim(
                actor=personas.pat,
                path=path,
                team=teams.payments,
                reason=CLAIM_REASON,
                now=now - dt.timedelta(minutes=CLAIMS - i),
            )
        )
    # Payments: two overdue reviews (90-day tier, registered 100 days ago), one of them
    # needing a lead's sign-off.
    for i in range(2):
        make_path(
            name=f"ledger-sync-{i}",
            requires_human_signoff=bool(i),
            now=now - dt.timedelta(days=100),
        )
    # Growth offers payments one of its paths.
    offered = make_path(name="braze-audience-sync", owner_team=teams.growth, now=now)
    gwen = type(personas.pat).for_user(personas.users.gwen)
    services.path_transfer(
        actor=gwen, path=offered, to_team=teams.payments, reason="Payments runs it now.", now=now
    )
    return claims


def land(page, live_server, who):
    page.context.clear_cookies()
    sign_in(page, live_server, who)
    expect(page).to_have_url(live_server.url + reverse("registry:my-work"))
    expect(page.get_by_role("heading", level=1, name="My work")).to_be_visible()


def test_my_work_and_queues(sized_page, live_server, personas, work):
    page = sized_page
    clicks = 0

    land(page, live_server, "sam")
    expect(page.locator('[data-work-count="claims"]')).to_have_text(str(CLAIMS))
    check_page(page, "mywork-sam")

    page.locator('[data-work="claims"]').click()
    expect(page.get_by_role("heading", level=1, name="Claim queue")).to_be_visible()
    first = page.locator(f"#claim-{work[0].pk}")
    # The context sam lacked: the path's scope and the violation it breaks.
    expect(first).to_contain_text("AdministratorAccess")
    expect(first).to_contain_text("Overprivileged")
    check_page(page, "claims-queue")

    first.get_by_role("button", name="Approve", exact=True).click()
    clicks += 1
    expect(first).to_contain_text("Approved: payments owns legacy-bot-00 now.")
    expect(page.locator(f"#claim-{work[1].pk} h3")).to_be_focused()
    check_page(page, "claims-in-place")
    in_place_clicks = clicks

    page.get_by_role("button", name="Select all").click()
    # Fourteen decisions, each its own audited transaction: slower than one click's wait
    # on a loaded machine.
    with page.expect_navigation(timeout=60_000):
        page.get_by_role("button", name="Approve selected").click(no_wait_after=True)
    clicks += 2
    expect(page.get_by_role("heading", name=f"Approve claims: {CLAIMS - 1} done")).to_be_visible()
    check_page(page, "claims-bulk-results")
    assert Claim.objects.filter(status=Claim.Status.APPROVED).count() == CLAIMS
    assert (in_place_clicks, clicks) == (1, 3), "approving 15 claims: 1 in place + 2 in bulk"

    land(page, live_server, "lee")
    expect(page.locator('[data-work-count="transfers"]')).to_have_text("1")
    expect(page.locator('[data-work-count="signoffs"]')).to_have_text("1")
    expect(page.locator('[data-work="claims"]')).to_have_count(0)
    check_page(page, "mywork-lee")
    page.locator('[data-work="transfers"]').click()
    expect(page.get_by_role("heading", level=1, name="My teams")).to_be_visible()
    check_page(page, "queue-mine-lee")
    offer = page.locator("li.queue-item", has_text="braze-audience-sync")
    offer.get_by_role("button", name="Accept", exact=True).click()
    expect(offer).to_contain_text("Accepted: payments owns braze-audience-sync now.")

    land(page, live_server, "pat")
    # Payments' two overdue paths; the sixteen it took on just now are not due.
    expect(page.locator('[data-work-count="reviews"]')).to_have_text("2")
    check_page(page, "mywork-pat")
    page.locator('[data-work="reviews"]').click()
    expect(page.get_by_role("heading", level=1, name="My teams")).to_be_visible()
    expect(page.locator("#due-heading + *")).to_contain_text("ledger-sync-0")
    check_page(page, "queue-mine-pat")
