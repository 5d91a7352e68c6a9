"""Fixtures shared by the service tests: a platform member, and a clock for the
import_paths command (which reads the time itself)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from registry import services
from registry.rules.actors import Actor
from tests.conftest import NOW
from tests.support_security import signed_in_superuser


@pytest.fixture
def platform_member(personas) -> Actor:
    """A member of the platform team, which stewards the unowned path."""
    user = get_user_model().objects.create_user("pia", "pia@example.com", "x")
    services.membership_add(actor=personas.system, team=personas.teams.platform, user=user, now=NOW)
    return Actor.for_user(user)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The services read django.utils.timezone.now when given no time (the import_paths
    command gives none): pin it at NOW, the moment the import samples describe, and let a
    test move it on (tests/services/test_imports_*.py use it throughout)."""
    pinned = Clock()
    monkeypatch.setattr(timezone, "now", pinned)
    return pinned


@pytest.fixture
def admin_client(personas):
    """sam, security lead, made superuser and signed in (not pytest-django's "admin"):
    the security-event tests' admin."""
    return signed_in_superuser(personas)
