"""End to end in headless Chromium, at 1440x900 and 390 px: pat registers a payments
path on /paths/new/, sees the live check refuse a placeholder justification next to its
field and the posture verdict before saving, fixes it, saves and lands on the path's page;
lee then edits only the justification and the expiry keeps its exact stored value."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from registry.models import AccessPath, AuditEvent
from registry.rules import errors
from registry.web.views.path_register import REGISTERED_MESSAGE
from tests.browser.conftest import check_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

JUSTIFICATION = "The invoice mailer reads rendered invoices to email them to customers."
EDITED = "The invoice mailer reads rendered invoices and their PDFs to email customers."


def test_register_then_edit_keeps_the_expiry(sized_page, live_server, personas):
    page = sized_page
    sign_in(page, live_server, "pat")
    page.goto(live_server.url + reverse("registry:path-list"))
    page.get_by_role("main").get_by_role("link", name="Register a path").click()
    expect(page.get_by_role("heading", name="Register a path", level=1)).to_be_visible()
    check_page(page, "register-empty")

    page.get_by_label("Name", exact=True).fill("invoice-mailer")
    page.get_by_label("Kind", exact=True).select_option(label=AccessPath.Kind.API_TOKEN.label)
    page.get_by_label("System", exact=True).fill("github")
    page.get_by_label("Environment", exact=True).select_option(label="Production")
    page.get_by_label("External id", exact=True).fill(f"github-invoice-mailer-{page.size_name}")
    expect(page.get_by_label("Owning team", exact=True)).to_have_value("payments")
    page.get_by_label("Ticket link", exact=True).fill("https://tickets.example.com/PAY-77")
    page.get_by_label("Privilege scope", exact=True).fill("AdministratorAccess")
    page.get_by_label("Justification", exact=True).fill("tbd")

    # The live check: the service's own words next to the field, nothing saved.
    slot = page.locator("#id_justification_error")
    expect(slot).to_contain_text(errors.JUSTIFICATION_PLACEHOLDER)
    expect(page.locator("#path-verdict")).to_contain_text("Not ready yet.")
    expect(page.get_by_label("Justification", exact=True)).to_have_attribute("aria-invalid", "true")
    assert not AccessPath.objects.filter(name="invoice-mailer").exists()
    check_page(page, "register-live-error")

    page.get_by_label("Justification", exact=True).fill(JUSTIFICATION)
    verdict = page.locator("#path-verdict")
    expect(verdict).to_contain_text("Ready to register.")
    expect(verdict).to_contain_text("Overprivileged")
    # Each rule's framework ids, enforcement level and fix, and the policy's verdict.
    expect(verdict).to_contain_text("Frameworks: NHI5 · PR.AA-05 · MEASURE 2.7")
    expect(verdict).to_contain_text("Needs an approved exception")
    expect(verdict).to_contain_text("Policy verdict: needs approval.")
    expect(slot).to_be_empty()
    expect(page.get_by_label("Justification", exact=True)).not_to_have_attribute(
        "aria-invalid", "true"
    )
    assert not AccessPath.objects.filter(name="invoice-mailer").exists()
    check_page(page, "register-verdict")

    # Leaving the field fires one more live check; let it answer before submitting, as a
    # person reading the verdict would (path_form.js drops any check still pending then).
    page.get_by_label("Justification", exact=True).blur()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/paths/[0-9a-f-]{36}/$"))
    expect(page.get_by_text(REGISTERED_MESSAGE)).to_be_visible()
    expect(page.get_by_role("heading", name="invoice-mailer", level=1)).to_be_visible()
    expect(page.locator(".violations")).to_contain_text("Overprivileged")
    expect(page.locator(".violations")).to_contain_text("Fix:")
    check_page(page, "register-saved")
    path = AccessPath.objects.get(name="invoice-mailer")
    assert path.owner_team == personas.teams.payments
    stored_expiry = path.expires_at  # the registry's default, to the microsecond

    # lee edits only the justification: the expiry keeps its exact value.
    sign_in(page, live_server, "lee")
    page.goto(live_server.url + reverse("registry:path-edit", args=[path.pk]))
    check_page(page, "edit-path")
    page.get_by_label("Justification", exact=True).fill(EDITED)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/paths/{path.pk}/$"))
    after = AccessPath.objects.get(pk=path.pk)
    assert after.justification == EDITED
    assert after.expires_at == stored_expiry
    event = AuditEvent.objects.filter(action="access_path.updated").latest("seq")
    assert set(event.changes) == {"justification"}
