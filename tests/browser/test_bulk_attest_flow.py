"""Issue 16, item 2 in headless Chromium: lee, the payments lead, attests his team's
51 due paths: one through its own page (the way it was done before: the clicks counted
are the "before"), then the other 50 from the inventory in one bulk action (the
"after"). Every click the test makes goes through `click`, which counts it; typing is
not a click. Both sizes; axe-core, no sideways scroll and a screenshot on every page.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from registry.models import AccessPath, Attestation
from tests.browser.conftest import check_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

DUE = 51
CONFIRMATIONS = (
    "It is still needed",
    "The justification and ticket are accurate",
    "Its scope is the least privilege the job needs",
    "No person uses it interactively",
)


@pytest.fixture
def due_paths(personas, make_path):
    """51 payments paths due for review (high risk, 90-day reviews, registered 85 days
    ago), and a data path due too, which lee's filter must leave out."""
    registered = timezone.now() - dt.timedelta(days=85)
    made = [make_path(name=f"payments-job-{i:02}", now=registered) for i in range(DUE)]
    make_path(name="data-loader", owner_team=personas.teams.data, now=registered)
    return made


class Clicker:
    def __init__(self, page) -> None:
        self.page = page
        self.count = 0

    def __call__(self, locator, **options) -> None:
        self.count += 1
        locator.click(**options)

    def open_menu_item(self, name: str) -> None:
        """A main menu link; on a phone the menu is behind its button first."""
        toggle = self.page.locator("button.menu-toggle")
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
            self(toggle)
        with self.page.expect_navigation():
            self(self.page.get_by_role("navigation", name="Main").get_by_role("link", name=name))


def test_lead_attests_fifty_due_paths_in_bulk(sized_page, live_server, personas, due_paths):
    page = sized_page
    sign_in(page, live_server, "lee")
    size = page.size_name

    # Before: one path, the single way (its page, four boxes, attest, back).
    single = Clicker(page)
    single.open_menu_item("Inventory")
    check_page(page, "bulk-attest-inventory")
    with page.expect_navigation():
        single(page.get_by_role("link", name=due_paths[0].name, exact=True))
    check_page(page, "bulk-attest-single-path")
    for label in CONFIRMATIONS:
        single(page.get_by_label(label, exact=True))
    single(page.get_by_role("button", name="Attest", exact=True))
    expect(page.get_by_text("Attested. Thank you")).to_be_visible()
    with page.expect_navigation():
        page.go_back()  # the browser's Back: a click too
        single.count += 1

    # After: the other 50 from the inventory, filtered to the team's due paths.
    bulk = Clicker(page)
    bulk.open_menu_item("Inventory")
    owner = page.locator("#id_owner_team")
    if not owner.is_visible():
        # On a phone the filters fold away under their own toggle.
        bulk(page.get_by_text("Filters and saved filters", exact=True))
    bulk(owner)
    owner.fill("payments")
    bulk(page.get_by_role("group", name="Status").get_by_label("Review due", exact=True))
    bulk(page.get_by_role("button", name="Filter", exact=True))
    expect(page).to_have_url(re.compile(r"status=review_due"))
    # The filter's URL carries what was chosen and nothing empty.
    assert not re.search(r"[?&][a-z_]+=(&|$)", page.url), page.url
    boxes = page.locator('input[name="selected"]')
    expect(boxes).to_have_count(DUE - 1)
    check_page(page, "bulk-attest-filtered")
    bulk(page.get_by_role("link", name="Select all on this page"))
    expect(page.locator("#bulk-count")).to_have_text(f"{DUE - 1} selected")
    bulk(page.locator("#bulk-form summary", has_text="Attest"))
    for label in CONFIRMATIONS:
        bulk(page.locator("#bulk-form").get_by_label(label, exact=True))
    check_page(page, "bulk-attest-bar")
    # Fifty attestations, each its own transaction with its audit event and its facts
    # refreshed: seconds, not the page default's ten.
    with page.expect_navigation(timeout=120_000):
        bulk(page.get_by_role("button", name="Attest: selected paths"), no_wait_after=True)
    heading = page.locator("#bulk-results-title")
    expect(heading).to_have_text(f"Attest: {DUE - 1} done")
    expect(heading).to_be_focused()
    check_page(page, "bulk-attest-results")

    attested = Attestation.objects.filter(path__owner_team=personas.teams.payments)
    assert attested.count() == DUE
    assert not Attestation.objects.filter(path__name="data-loader").exists()
    assert AccessPath.objects.get(name="payments-job-07").last_attested_at is not None
    # 50 single attestations would have cost 50 times the single path's clicks.
    assert bulk.count < single.count * 2
    print(f"\nclicks ({size}): one path {single.count}, fifty in bulk {bulk.count}")
