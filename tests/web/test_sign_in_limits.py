"""Sign-in that resists guessing (django-axes, docs/SECURITY-EVENTS.md): a lockout by
account and by source address before any password is checked, recorded once, lifted by
security; sessions that end after their lifetime and when idle."""

from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from registry.services import security
from registry.web.middleware import SessionLifetimeMiddleware
from tests.support_security import events, everything_stored

pytestmark = pytest.mark.django_db

PASSWORD = "nhi-demo-pass"  # the personas' password (tests/conftest.py)
ADDRESS = "203.0.113.9"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_the_right_password_after_the_limit_is_refused(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    for _ in range(2):
        assert sign_in(client, "sam", "guess").status_code == 200
    assert sign_in(client, "sam", "guess").status_code == 429  # the failure that reaches it
    response = sign_in(client, "sam", PASSWORD)
    assert response.status_code == 429
    assert "Sign-in paused" in response.content.decode()
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    # from another address too: the account is paused, not only the address
    assert sign_in(Client(REMOTE_ADDR="198.51.100.7"), "sam", PASSWORD).status_code == 429
    assert not events(security.LOGIN)


def test_one_address_guessing_many_accounts_is_paused(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    for name in ("sam", "pat", "lee"):
        sign_in(client, name, "guess")
    assert sign_in(client, "dana", PASSWORD).status_code == 429
    # another address signs in to an account that was not guessed at
    assert sign_in(Client(REMOTE_ADDR="198.51.100.7"), "dana", PASSWORD).status_code == 302


def test_failures_are_recorded_the_lockout_once_and_the_pause_not_at_all(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    for _ in range(6):
        sign_in(client, "sam", "guess")
    assert len(events(security.LOGIN_FAILED)) == 3
    (lockout,) = events(security.LOGIN_LOCKED_OUT)
    assert lockout.object_id == str(personas.users.sam.pk)
    assert lockout.changes["source_address"] == [None, ADDRESS]


def test_a_successful_sign_in_clears_the_count(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    sign_in(client, "sam", "guess")
    sign_in(client, "sam", "guess")
    assert sign_in(client, "sam", PASSWORD).status_code == 302
    client.logout()
    sign_in(client, "sam", "guess")
    sign_in(client, "sam", "guess")
    assert sign_in(client, "sam", PASSWORD).status_code == 302


def test_security_lifts_a_pause(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    for _ in range(3):
        sign_in(client, "sam", "guess")
    assert sign_in(client, "sam", PASSWORD).status_code == 429
    call_command("axes_reset_username", "sam")
    call_command("axes_reset_ip", ADDRESS)
    assert sign_in(client, "sam", PASSWORD).status_code == 302


def test_the_admin_lists_paused_sign_ins(personas):
    for _ in range(3):
        sign_in(Client(REMOTE_ADDR=ADDRESS), "sam", "guess")
    admin = Client()
    auditor = personas.users.dana  # signing in clears sam's own count, so someone else
    auditor.is_superuser = auditor.is_staff = True
    auditor.save()
    admin.force_login(auditor)
    page = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200
    assert ADDRESS in page.content.decode()


def test_a_pasted_token_is_not_kept_by_the_throttle(personas):
    client = Client(REMOTE_ADDR=ADDRESS)
    sign_in(client, GITHUB_TOKEN, "also-" + GITHUB_TOKEN)
    (attempt,) = AccessAttempt.objects.all()
    assert attempt.username == security.REDACTED
    kept = f"{attempt.username} {attempt.get_data} {attempt.post_data} {attempt.user_agent}"
    assert "A1b2C3d4E5f6" not in kept
    assert "A1b2C3d4E5f6" not in everything_stored()


# --- session lifetime -------------------------------------------------------------------


def signed_in(personas) -> Client:
    client = Client()
    assert sign_in(client, "pat", PASSWORD).status_code == 302
    return client


def age_session(client: Client, *, started_by: int = 0, seen_by: int = 0) -> None:
    session = client.session
    session[SessionLifetimeMiddleware.STARTED] -= started_by
    session[SessionLifetimeMiddleware.SEEN] -= seen_by
    session.save()


def test_an_idle_session_ends(personas, settings):
    client = signed_in(personas)
    assert client.get(reverse("registry:path-list")).status_code == 200
    age_session(client, seen_by=settings.NHI_SESSION_IDLE_SECONDS + 5)
    response = client.get(reverse("registry:path-list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert events(security.LOGOUT)


def test_an_active_session_still_ends_after_its_lifetime(personas, settings):
    client = signed_in(personas)
    assert client.get(reverse("registry:path-list")).status_code == 200
    age_session(client, started_by=settings.SESSION_COOKIE_AGE + 5)
    response = client.get(reverse("registry:path-list"))
    assert response.status_code == 302


def test_activity_keeps_an_idle_clock_fresh(personas, settings):
    client = signed_in(personas)
    client.get(reverse("registry:path-list"))
    age_session(client, seen_by=settings.NHI_SESSION_IDLE_SECONDS - 30)
    assert client.get(reverse("registry:path-list")).status_code == 200
    seen = client.session[SessionLifetimeMiddleware.SEEN]
    assert seen >= int(time.time()) - 5  # written again: the idle clock restarted
    assert client.get(reverse("registry:path-list")).status_code == 200


def test_defaults(settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.NHI_SESSION_IDLE_SECONDS == 3600
