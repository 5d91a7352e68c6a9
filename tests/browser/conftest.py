"""Browser tests: headless Chromium, driven by Playwright, against pytest-django's live_server.

Every test in tests/browser/ is marked `browser`. The browser is Debian's Chromium
(/usr/bin/chromium, or the path in NHI_CHROMIUM), launched through `executable_path`:
`playwright install` is never needed. Without that binary or the playwright package the
tests skip with the reason, unless NHI_REQUIRE_BROWSER=1 (CI), which stops the run.

Tests that load pages use `live_server`, which serves the app from a thread of the test
process, so they need `transactional_db` (the test thread's transaction would otherwise
hide its rows from the server): pytest-django turns it on for any test that uses
live_server; the test modules also say so with `django_db(transaction=True)`.

Personas (tests/conftest.py) all have the password PERSONA_PASSWORD, so
`sign_in(page, live_server, "pat")` needs no setup beyond the `personas` fixture.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the environment
    sync_playwright = None
    _PLAYWRIGHT_IMPORT_ERROR = str(exc)
else:
    _PLAYWRIGHT_IMPORT_ERROR = ""
    # expect() waits 5 s by default; match the pages' default timeout below.
    expect.set_options(timeout=10_000)

BROWSER_DIR = Path(__file__).resolve().parent
SCREENSHOT_DIR = BROWSER_DIR.parents[1] / "var" / "screenshots"
CHROMIUM = os.environ.get("NHI_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-background-networking",  # no update checks or other traffic off the machine
]
VIEWPORT = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# The two sizes every flow is walked at (issue 16): a laptop and a phone.
SIZES = {"desktop": VIEWPORT, "phone": PHONE}
AXE_SOURCE = BROWSER_DIR / "vendor" / "axe-core" / "axe.min.js"
# axe-core's impact levels that fail a page; "minor" and "moderate" are reported only.
AXE_FAILING_IMPACTS = ("serious", "critical")
DEFAULT_TIMEOUT_MS = 10_000
# build_personas() in tests/conftest.py creates every user with this password.
PERSONA_PASSWORD = "nhi-demo-pass"


def _unavailable_reason() -> str | None:
    if sync_playwright is None:
        return f"needs the playwright package ({_PLAYWRIGHT_IMPORT_ERROR})"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium, or set NHI_CHROMIUM)"
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` selection reads the markers
def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if item.path.is_relative_to(BROWSER_DIR)]
    for item in ours:
        item.add_marker(pytest.mark.browser)
    reason = _unavailable_reason()
    if reason is None or not ours:
        return
    if os.environ.get("NHI_REQUIRE_BROWSER") == "1":
        pytest.exit(f"NHI_REQUIRE_BROWSER=1 but browser tests can't run: {reason}.", returncode=3)
    skip = pytest.mark.skip(reason=reason)
    for item in ours:
        item.add_marker(skip)


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the browser tests of this worker.

    Package-scoped rather than session-scoped on purpose: while Playwright's sync API is
    started, its asyncio loop counts as running in the test thread, so every later test
    in the process would run "inside" an event loop (Django refuses ORM calls there, and
    asyncio.run() fails). Tearing it down when tests/browser/ ends keeps that to these tests.
    """
    with pytest.MonkeyPatch.context() as mp:
        # Playwright's running loop makes Django raise SynchronousOnlyOperation for ORM
        # calls from the test thread (fixtures such as `personas`, pytest-django's flush
        # after a transactional test). Those calls are ordinary synchronous code that only
        # looks async to Django, so allow them while the browser is up.
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield chromium
            finally:
                chromium.close()


def _new_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    """A fresh page in its own browser context (no cookies shared between tests)."""
    context, new_page = _new_page(browser, VIEWPORT)
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture(params=sorted(SIZES))
def sized_page(request, browser):
    """The same fresh page at each size: a test using it runs once at 1440x900 and once
    at 390 px wide (a phone, with touch and the mobile viewport meta honoured)."""
    context, new_page = _new_page(browser, SIZES[request.param])
    new_page.size_name = request.param
    try:
        yield new_page
    finally:
        context.close()


def assert_accessible(page, *, context: str = "") -> None:
    """Run axe-core (vendored, injected through the DevTools protocol, so the page's CSP
    does not apply to it) on the current page and fail on any serious or critical
    violation, naming the rule, its help text and the first offending elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )
    failing = [v for v in results if v["impact"] in AXE_FAILING_IMPACTS]
    where = context or page.url
    assert not failing, f"axe-core on {where}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}" for v in failing
    )


def assert_no_sideways_scroll(page, *, context: str = "") -> None:
    """The page fits its viewport's width: nothing makes the whole page scroll sideways
    (wide tables scroll inside their own .table-scroll box instead)."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{context or page.url} scrolls sideways by {overflow}px"


def check_page(page, name: str) -> Path:
    """The checks every page visit in a flow gets: axe-core, no sideways scrolling, and a
    screenshot named <name>-<size> in var/screenshots/ (listed in the issue's note)."""
    size = getattr(page, "size_name", "desktop")
    assert_accessible(page, context=f"{name} ({size})")
    assert_no_sideways_scroll(page, context=f"{name} ({size})")
    return screenshot(page, f"{name}-{size}")


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as var/screenshots/<name>.png and return its path."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '.', '-', '_'")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, live_server, username: str, password: str = PERSONA_PASSWORD) -> None:
    """Sign in through the login form, as a person would, and wait for the next page.

    A wrong password also navigates (the form posts and the login page comes back with
    an error), so callers assert where they landed.
    """
    page.goto(live_server.url + reverse("login"))
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
