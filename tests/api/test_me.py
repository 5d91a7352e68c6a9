"""me/: who the caller is, person or token."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, bearer, issue

pytestmark = pytest.mark.django_db


def test_me_for_a_person(pat, sam):
    assert pat.get(reverse("me")).json() == {
        "kind": "user",
        "username": "pat",
        "token": None,
        "teams": [{"slug": "payments", "kind": "product", "role": "member"}],
        "security_reviewer": False,
    }
    assert sam.get(reverse("me")).json()["security_reviewer"] is True


def test_me_for_a_team_token(personas):
    token, secret = issue(personas, scopes=["read"])
    data = bearer(secret).get(reverse("me")).json()
    assert data["kind"] == "token" and data["username"] is None
    assert data["token"]["prefix"] == token.prefix and data["token"]["team"] == "payments"
    assert data["token"]["scopes"] == ["read"]
    assert data["teams"] == [{"slug": "payments", "kind": "product", "role": "integration"}]
    assert data["security_reviewer"] is False


def test_me_requires_credentials():
    assert_error(APIClient().get(reverse("me")), 401)
