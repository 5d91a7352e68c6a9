"""Helpers shared by the API endpoint tests (tests/api/test_*.py): clients, URLs, the
error shape, and "nothing changed"."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from django.urls import reverse
from rest_framework.test import APIClient

from api.exceptions import _CODES
from registry.models import AccessPath, Claim
from registry.services.security import SECURITY_ACTIONS
from registry.services.tokens import token_create
from tests.assertions import snapshot

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
CLAIM_REASON = "Our billing export job runs under this account every night."
TRANSFER_REASON = "The data team now runs the billing export pipeline."
DECISION_REASON = "Confirmed with the steward: the export job is theirs."
EXCEPTION_REASON = "The vendor API offers no narrower scope until its next release."
REVOKE_REASON = "The export job was retired last week."
KEEP = {
    "decision": "keep",
    "still_needed": True,
    "justification_accurate": True,
    "least_privilege": True,
    "no_human_use": True,
    "note": "",
}


# --- helpers ------------------------------------------------------------------------


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def issue(personas, *, scopes=("read", "write"), team="payments", user=None, **kwargs):
    """A token for a team (default payments) or, with `user`, a personal one."""
    holder = {"user": user} if user is not None else {"team": getattr(personas.teams, team)}
    return token_create(
        actor=personas.system, name=f"ci-{len(scopes)}", scopes=list(scopes), **holder, **kwargs
    )


def url(path: AccessPath | None = None, action: str | None = None) -> str:
    if path is None:
        return reverse("access-path-register" if action == "register" else "access-path-list")
    if action is None:
        return reverse("access-path-detail", args=[path.pk])
    return reverse(f"access-path-{action}", args=[path.pk])


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"next", "previous", "results"}  # cursor pages: no count
    return body["results"]


def names(response) -> set[str]:
    return {item["name"] for item in results(response)}


def assert_error(response, status: int, detail: str | None = None, errors=None) -> dict:
    """The error shape: {"detail", "code", "errors"?}, with per-field errors on a 400."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == _CODES[status]
    assert "detail" in body
    if detail is not None:
        assert body["detail"] == detail
    if status == 400:
        assert isinstance(body["errors"], dict) and body["errors"]
    if errors is not None:
        if isinstance(errors, dict):
            for field, message in errors.items():
                assert message in body["errors"][field], body["errors"]
        else:
            assert set(errors) <= set(body["errors"]), body["errors"]
    return body


@contextmanager
def unchanged():
    """Nothing at all changes: no audit event, no row (path versions included). A
    refusal's own security event (request.refused, api_token.denied) is not a change."""

    def state() -> dict:
        rows = snapshot()
        rows["AuditEvent"] = [e for e in rows["AuditEvent"] if e["action"] not in SECURITY_ACTIONS]
        return rows

    before = state()
    yield
    assert state() == before


def version(path: AccessPath) -> int:
    return AccessPath.objects.values_list("version", flat=True).get(pk=path.pk)


def claim_url(claim: Claim, action: str | None = None) -> str:
    return reverse(f"claim-{action}" if action else "claim-detail", args=[claim.pk])
