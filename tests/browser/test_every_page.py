"""Every page, in headless Chromium, for a security lead, a team lead and a team member,
at 1440x900 and at 390 px: axe-core finds no serious or critical violation, nothing
scrolls the whole page sideways, and each visit leaves a screenshot
(var/screenshots/every-<persona>-<page>-<size>.png).

One browser context per persona and size, signed in once; every page is visited and
every failure collected, so one run lists them all. The estate is the ownership flow's
(about thirty paths in every status) plus an incident, an import run, an export run, a
pending transfer and an edited path, so the detail pages have something to show.

The page list is checked against registry/web/urls.py (test_every_route_is_walked): a
new route is either a page here or named as not one (a POST action, a download, an
HTMX fragment).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone
from playwright.sync_api import expect

from registry import services
from registry.importers.base import ImportRow
from registry.models import ImportRun, Incident
from registry.services import exports as export_services
from registry.services.imports import paths_import
from registry.services.signoff import agent_action_record
from registry.web import urls as registry_urls
from tests.browser.conftest import (
    DEFAULT_TIMEOUT_MS,
    PHONE,
    SIZES,
    check_page,
    sign_in,
)
from tests.browser.test_e2e_ownership import estate  # noqa: F401 - the shared estate fixture

pytestmark = pytest.mark.django_db(transaction=True)

# Routes that are not pages a person opens: form targets (POST only), downloads and the
# fragments HTMX asks for. They are reached through the pages that hold them.
NOT_PAGES = {
    "path-export",
    "path-export-json",
    "export-download",
    "saved-filter-create",
    "saved-filter-archive",
    "path-new-check",
    "path-claim",
    "path-attest",
    "path-transfer",
    "path-revoke",
    "path-source-disabled",
    "exception-request",
    "claim-decide",
    "change-decide",
    "transfer-answer",
    "exception-decide",
    "incident-contain",
    "incident-close",
    "incident-link",
    "path-bulk",
    "queue-claims-bulk",
    "queue-claim-decide",
    "queue-transfer-answer",
    "notification-retry-bulk",
    "notification-retry",
    "team-channels",
    "team-channel-test",
    "team-channel-test-status",
    "token-create",
    "token-revoke",
    "team-member-add",
    "team-member-remove",
    "team-member-role",
    "path-signoff-policy",
    "queue-signoff-decide",
}
# Pages with parameters get them from the scene; the rest are reversed as they are.
WITH_PARAMETERS = {
    "path-detail",
    "path-edit",
    "export-detail",
    "import-detail",
    "incident-detail",
    "team-detail",
    "team-reminders",
}
PERSONAS = ("sam", "lee", "pat")
# Words no page should show: a singular with a plural noun, a raw ISO timestamp, a code
# glued together ("Skippedgone").
UNREADABLE = (
    re.compile(r"(?<![\d.,])1 (days|hours|weeks|paths|rows|minutes)\b"),
    re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    re.compile(r"\b[A-Z][a-z]+(gone|retired|seen)\b"),
)


def route_names() -> set[str]:
    return {p.name for p in registry_urls.urlpatterns if isinstance(p, URLPattern) and p.name}


def test_every_route_is_walked():
    """Plain, no browser: a route nobody classified would escape the accessibility walk."""
    unclassified = route_names() - NOT_PAGES - set(PAGE_NAMES) - WITH_PARAMETERS
    assert not unclassified, f"add these routes to PAGES or NOT_PAGES: {sorted(unclassified)}"


# The pages without parameters, in the order a person might open them.
PAGE_NAMES = (
    "dashboard",
    "my-work",
    "path-list",
    "path-new",
    "queue-mine",
    "queue-unclaimed",
    "queue-claims",
    "queue-signoff",
    "queue-security",
    "triage",
    "incident-list",
    "incident-new",
    "evidence-pack",
    "control-policies",
    "import-list",
    "team-list",
)


@pytest.fixture
def scene(estate, personas):  # noqa: F811 - pytest passes the imported fixture
    """What the detail pages need beyond the paths: an incident, an import run with a
    skipped row, an export run of sam's, a pending transfer and an audited edit."""
    now = timezone.now()
    ledger = estate.ledger_sync_export
    services.path_transfer(
        actor=personas.lee,
        path=estate.invoice_renderer,
        to_team=personas.teams.data,
        reason="The data team runs the invoice renderer since the reorganisation.",
        now=now - dt.timedelta(hours=3),
    )
    services.path_update(
        actor=personas.lee,
        path=ledger,
        changes={"expires_at": now + dt.timedelta(days=200)},
        now=now - dt.timedelta(hours=2),
    )
    incident = services.incident_open(
        actor=personas.sam,
        path=ledger,
        summary="The key was pasted in a public gist.",
        location="https://gist.example.com/abc123",
        now=now - dt.timedelta(hours=1),
    )
    rows = [
        ImportRow(
            line=2,
            data={
                "name": "bulk-reader",
                "kind": "api_token",
                "system": "bulk",
                "external_id": "bulk:reader",
                "environment": "dev",
                "created_via": "discovery",
            },
        )
    ]
    report = paths_import(
        actor=personas.sam, rows=rows, source_format="csv", file_name="paths.csv", now=now
    )
    export = export_services.export_request(actor=personas.sam, fmt="csv", filters={}, now=now)
    # An agent's action waiting for sign-off: the sign-off queue has a row to show.
    agent_action_record(actor=personas.payments_ci, path=ledger, data={"action": "deploy"}, now=now)
    return {
        "path-detail": {"path_id": ledger.pk},
        "path-edit": {"path_id": ledger.pk},
        "incident-detail": {"incident_id": Incident.objects.get(pk=incident.pk).pk},
        "import-detail": {"run_id": ImportRun.objects.get(pk=report.run.pk).pk},
        "export-detail": {"run_id": export.pk},
        "team-detail": {"slug": "payments"},
        "team-reminders": {"slug": "payments"},
    }


def pages(scene) -> list[tuple[str, str]]:
    found = [(name, reverse(f"registry:{name}")) for name in PAGE_NAMES]
    found += [(name, reverse(f"registry:{name}", kwargs=kwargs)) for name, kwargs in scene.items()]
    found += [
        # A path nobody may see, and a form sent back with its errors.
        ("not-found", "/paths/00000000-0000-0000-0000-000000000000/"),
        ("inventory-bad-filter", reverse("registry:path-list") + "?q=ghp_" + "a1B2" * 9),
        ("inventory-filtered", reverse("registry:path-list") + "?status=overdue&risk_tier=high"),
    ]
    return found


# The outermost elements that stick out past the right edge of the viewport (their
# parent does not): what to fix when a page scrolls sideways.
WIDEST_JS = """() => {
  const limit = document.documentElement.clientWidth + 1;
  const out = (el) => el && el.getBoundingClientRect().right > limit;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  return [...document.querySelectorAll("body *")]
    .filter((el) => out(el) && !out(el.parentElement))
    .slice(0, 3).map(name);
}"""


def widest(page) -> str:
    found = page.evaluate(WIDEST_JS)
    return f" (sticking out: {', '.join(found)})" if found else ""


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_is_accessible_and_fits(browser, live_server, scene, persona, size):
    context = browser.new_context(viewport=SIZES[size], is_mobile=SIZES[size] is PHONE)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.size_name = size
    failures: list[str] = []

    def visit(name: str) -> None:
        try:
            check_page(page, f"every-{persona}-{name}")
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0] + widest(page))
        text = page.locator("body").inner_text()
        for wrong in UNREADABLE:
            if found := wrong.search(text):
                failures.append(f"{name} ({size}) says {found.group(0)!r}")

    try:
        page.goto(live_server.url + reverse("login"))
        visit("login")
        # A form sent back with an error: the focus goes to the error and it is said.
        sign_in(page, live_server, persona, password="not-the-password")
        visit("login-error")
        focused = page.evaluate("() => document.activeElement.textContent")
        said = page.locator("#form-announcer")
        if "didn't match" not in (focused or ""):
            failures.append(f"after a refused sign-in the focus is on {focused!r}")
        expect(said).to_contain_text("There is a problem: Your username and password")
        sign_in(page, live_server, persona)
        for name, url in pages(scene):
            page.goto(live_server.url + url)
            page.wait_for_load_state("networkidle")
            visit(name)
        if size == "phone":
            # The phone's top bar: one line, with a menu button that opens the links.
            page.goto(live_server.url + reverse("registry:dashboard"))
            header = page.locator("header.topbar").bounding_box()
            if header is None or header["height"] > 64:
                failures.append(f"phone top bar is {header and header['height']}px tall")
            toggle = page.get_by_role("button", name="Menu", exact=True)
            nav = page.get_by_role("navigation", name="Main")
            if toggle.get_attribute("aria-expanded") != "false" or nav.is_visible():
                failures.append("the phone menu does not start closed")
            toggle.click()
            if toggle.get_attribute("aria-expanded") != "true" or not nav.is_visible():
                failures.append("the Menu button does not open the menu")
            else:
                visit("menu-open")
            # The inventory's results start near the top: the filters fold away.
            page.goto(live_server.url + reverse("registry:path-list"))
            results = page.locator("#results").bounding_box()
            if results is None or results["y"] > 400:
                failures.append(f"inventory results start {results and results['y']}px down")
    finally:
        context.close()
    assert not failures, f"{persona} at {size}:\n" + "\n".join(failures)
