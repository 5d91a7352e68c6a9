"""Fixtures shared by the delivery tests."""

import pytest

LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def locmem_email(settings) -> None:
    """Email that is not under test goes to Django's in-memory outbox (`mail.outbox`)."""
    settings.EMAIL_BACKEND = LOCMEM_BACKEND
