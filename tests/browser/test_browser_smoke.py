"""Smoke tests in a real browser: the login page, signing in, a wrong password."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_page_has_labelled_fields(page, live_server):
    page.goto(live_server.url + reverse("login"))

    expect(page).to_have_title(re.compile(r"^Sign in"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username", exact=True)).to_be_focused()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_enabled()
    # The stylesheet is served (static files through the live server) and applied.
    expect(page.locator("header.topbar")).not_to_have_css("display", "inline")


def test_pat_signs_in_and_lands_on_my_work(page, live_server, personas):
    sign_in(page, live_server, "pat")

    expect(page).to_have_url(live_server.url + reverse("registry:my-work"))
    expect(page.locator("form.signout")).to_contain_text("pat")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Inventory")


def test_wrong_password_shows_an_error_and_stays_on_the_login_page(page, live_server, personas):
    sign_in(page, live_server, "pat", "not-pats-password")

    expect(page).to_have_url(live_server.url + reverse("login"))
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)


def test_screenshot_of_the_login_page(page, live_server):
    page.goto(live_server.url + reverse("login"))
    expect(page.get_by_label("Username", exact=True)).to_be_visible()

    path = screenshot(page, "login")

    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert path.stat().st_size > 1_000
