"""Fixtures shared by the delivery tests."""

import pytest

LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def locmem_email(settings) -> None:
    """Email that is not under test goes to Django's in-memory outbox (`mail.outbox`)."""
    settings.EMAIL_BACKEND = LOCMEM_BACKEND


@pytest.fixture(autouse=True)
def deliver_at_once(settings) -> None:
    """These tests queue and deliver at the same instant: no coalescing slot (its own
    tests are in tests/services/test_delivery_fencing.py)."""
    settings.NHI_DELIVERY_COALESCE_SECONDS = 0
