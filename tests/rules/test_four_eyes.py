"""Four eyes that a token cannot get round: a security reviewer who issues a team token
and claims a path with it may not approve that claim (issue 13)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry import services
from registry.models import ApiToken, Claim
from registry.rules import errors
from registry.rules.errors import NotAllowed
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

REASON = "The security team runs the nightly scanner that uses this key."


def test_a_reviewer_cannot_approve_a_claim_his_token_made(personas, unowned_path, sid):
    token, raw = services.token_create(
        actor=personas.sam, name="scanner", team=personas.teams.security, scopes=["write"],
        now=NOW,
    )  # fmt: skip
    assert ApiToken.objects.get(pk=token.pk).created_by == personas.users.sam
    api = APIClient()
    response = api.post(
        f"/api/v1/access-paths/{unowned_path.pk}/claim/",
        {"team": "security", "reason": REASON},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.json()
    claim = Claim.objects.get()
    assert claim.requested_by is None
    assert claim.requested_through_token_of == personas.users.sam
    with pytest.raises(NotAllowed) as refused:
        services.claim_approve(actor=personas.sam, claim=claim, now=NOW)
    assert refused.value.message == errors.SELF_REVIEW_FORBIDDEN
    # through the API too, and the button is not offered on the page
    reviewer = APIClient()
    reviewer.force_authenticate(personas.users.sam)
    assert reviewer.post(f"/api/v1/claims/{claim.pk}/approve/").status_code == 403
    # a second reviewer decides
    services.claim_approve(actor=sid, claim=claim, now=NOW)
    assert Claim.objects.get().status == Claim.Status.APPROVED


def test_tokens_never_decide(personas, unowned_path):
    claim = services.path_claim(
        actor=personas.lee, path=unowned_path, team=personas.teams.payments, reason=REASON,
        now=NOW,
    )  # fmt: skip
    _, raw = services.token_create(
        actor=personas.sam, name="bot", team=personas.teams.security, scopes=["write"], now=NOW
    )
    response = APIClient().post(
        f"/api/v1/claims/{claim.pk}/approve/", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 403
    assert Claim.objects.get().status == Claim.Status.PENDING
