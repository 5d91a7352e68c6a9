"""The Content-Security-Policy on every page: ours (refusals and not-found pages too)
carry it and run no inline script, and so do the admin and the API's documentation (the
docs' starter script is a file)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.helpers import PAGES, edit_url

pytestmark = pytest.mark.django_db

INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def inline_scripts(html: str) -> list[str]:
    """Executable inline script bodies (JSON data blocks are not executed)."""
    found = []
    for attrs, body in re.findall(
        r"<script\b([^>]*)>(.*?)</script>", html, re.IGNORECASE | re.DOTALL
    ):
        if body.strip() and "application/json" not in attrs:
            found.append(body.strip()[:80])
    return found


@pytest.fixture
def superuser_client(personas) -> Client:
    user = personas.users.sam
    user.is_superuser = user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/registry/accesspath/",
        "/admin/auth/user/add/",
        "/api/docs/",
    ],
)
def test_admin_and_api_docs_run_under_the_policy(superuser_client, url):
    response = superuser_client.get(url)
    assert response.status_code == 200, url
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    html = response.content.decode()
    assert inline_scripts(html) == []
    assert not INLINE_HANDLER.search(html)


def test_the_docs_starter_script_is_served_as_a_file(superuser_client):
    html = superuser_client.get("/api/docs/").content.decode()
    sources = re.findall(r'<script\b[^>]*\ssrc="([^"]+)"', html)
    starter = [s for s in sources if "script" in s and "/api/docs/" in s]
    assert starter, sources
    script = superuser_client.get(starter[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_json_answers_carry_the_policy(personas):
    client = Client()
    client.force_login(personas.users.sam)
    response = client.get("/api/v1/me/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_admin_sign_in_page_too(db):
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert inline_scripts(response.content.decode()) == []


# --- our own pages ---------------------------------------------------------------------


@pytest.mark.parametrize("page", [p for p in PAGES if p != "export"])
def test_pages_carry_csp_and_no_inline_script(client, personas, scene, page):
    client.force_login(personas.users.sam)
    response = client.get(PAGES[page][0](scene))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html, re.IGNORECASE)
    assert scripts, "the page loads HTMX"
    assert all(" src=" in tag for tag in scripts), scripts
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.IGNORECASE | re.DOTALL)
    assert [body for body in bodies if body.strip()] == [], "an inline script"
    assert not INLINE_HANDLER.search(html)


def test_refusal_and_not_found_pages_carry_csp_too(client, personas, scene):
    client.force_login(personas.users.pat)
    refused = client.get(edit_url(scene.unowned))
    missing = client.get(reverse("registry:queue-security"))
    assert (refused.status_code, missing.status_code) == (403, 404)
    for response in (refused, missing):
        assert "script-src 'self'" in response["Content-Security-Policy"]
