"""Claims through the API: claiming an unowned path, then the claims resource (list,
retrieve, approve, reject)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, Claim
from registry.rules import errors
from registry.services.ownership import ANOTHER_CLAIM_APPROVED
from tests.api.helpers import (
    CLAIM_REASON,
    DECISION_REASON,
    assert_error,
    claim_url,
    results,
    session,
    unchanged,
    url,
)

pytestmark = pytest.mark.django_db

# --- access-paths: claim --------------------------------------------------------------


def test_claim_an_unowned_path(pat, unowned, personas):
    response = pat.post(
        url(unowned, "claim"),
        {"team": "payments", "reason": CLAIM_REASON},
        format="json",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["team"] == "payments" and response.json()["status"] == "pending"
    assert response.json()["requested_by"] == "pat"
    unowned.refresh_from_db()
    assert unowned.state == AccessPath.State.CLAIM_PENDING and unowned.version == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"team": "payments"}, {"reason": "This field is required."}),
        ({"team": "payments", "reason": "tbd"}, {"reason": errors.JUSTIFICATION_PLACEHOLDER}),
        ({"team": "no-such-team", "reason": CLAIM_REASON}, ["team"]),
        ({"reason": CLAIM_REASON}, ["team"]),
        (
            {"team": "payments", "reason": CLAIM_REASON, "proposed_expires_at": "2001-01-01"},
            {"proposed_expires_at": errors.EXPIRY_IN_PAST},
        ),
    ],
)
def test_claim_refuses_bad_input_per_field(pat, unowned, body, expected):
    with unchanged():
        assert_error(pat.post(url(unowned, "claim"), body, format="json"), 400, errors=expected)


def test_claim_for_a_team_you_are_not_in_is_403(pat, unowned):
    with unchanged():
        assert_error(
            pat.post(
                url(unowned, "claim"), {"team": "data", "reason": CLAIM_REASON}, format="json"
            ),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_claim_of_an_owned_path_is_409(pat, own):
    with unchanged():
        assert_error(
            pat.post(
                url(own, "claim"), {"team": "payments", "reason": CLAIM_REASON}, format="json"
            ),
            409,
            errors.PATH_NOT_CLAIMABLE.format(state="active"),
        )


def test_a_second_claim_by_the_same_team_is_409(pat, lee, unowned):
    body = {"team": "payments", "reason": CLAIM_REASON}
    assert pat.post(url(unowned, "claim"), body, format="json").status_code == 201
    with unchanged():
        assert_error(
            lee.post(url(unowned, "claim"), body, format="json"), 409, errors.CLAIM_ALREADY_PENDING
        )


def test_claim_with_a_stale_if_match_is_412(pat, unowned):
    body = {"team": "payments", "reason": CLAIM_REASON}
    with unchanged():
        assert_error(
            pat.post(url(unowned, "claim"), body, format="json", HTTP_IF_MATCH='W/"9"'),
            412,
            errors.STALE_VERSION.format(expected=9, actual=1),
        )


def test_claim_of_an_invisible_path_is_404(personas, unowned):
    otto = session(personas.users.otto)
    body = {"team": "payments", "reason": CLAIM_REASON}
    with unchanged():
        assert_error(otto.post(url(unowned, "claim"), body, format="json"), 404)


# --- claims ---------------------------------------------------------------------------


@pytest.fixture
def claims(personas, unowned):
    """Payments (by pat) and data (by dana) compete for the same unowned path."""
    make = services.path_claim
    ours = make(actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON)
    theirs = make(actor=personas.dana, path=unowned, team=personas.teams.data, reason=CLAIM_REASON)
    return ours, theirs


def test_claims_list_and_retrieve(pat, claims):
    ours, theirs = claims
    assert {item["id"] for item in results(pat.get(reverse("claim-list")))} == {ours.pk, theirs.pk}
    data = pat.get(claim_url(ours)).json()
    assert (data["team"], data["status"], data["requested_by"]) == ("payments", "pending", "pat")


def test_approve_makes_the_team_owner_and_rejects_the_others(sam, claims, unowned):
    ours, theirs = claims
    response = sam.post(claim_url(ours, "approve"), {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    path = sam.get(url(unowned)).json()
    assert (path["owner_team"], path["status"]) == ("payments", "active")
    theirs.refresh_from_db()
    assert theirs.status == Claim.Status.REJECTED
    assert theirs.decision_reason == ANOTHER_CLAIM_APPROVED


def test_approve_of_a_decided_claim_is_409(sam, claims):
    ours, _ = claims
    assert sam.post(claim_url(ours, "approve"), {}, format="json").status_code == 200
    with unchanged():
        assert_error(
            sam.post(claim_url(ours, "approve"), {}, format="json"),
            409,
            errors.CLAIM_NOT_PENDING.format(status="approved"),
        )


def test_approve_by_a_non_reviewer_is_403(lee, claims):
    with unchanged():
        assert_error(
            lee.post(claim_url(claims[0], "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )


def test_approve_of_your_own_claim_is_403(sam, personas, make_path, now):
    path = make_path(now=now, owner_team=None, justification="", ticket_url="")
    mine = services.path_claim(
        actor=personas.sam, path=path, team=personas.teams.security, reason=CLAIM_REASON
    )
    with unchanged():
        assert_error(
            sam.post(claim_url(mine, "approve"), {}, format="json"),
            403,
            errors.SELF_REVIEW_FORBIDDEN,
        )


def test_approve_refuses_a_secret_in_the_reason(sam, claims):
    with unchanged():
        assert_error(
            sam.post(
                claim_url(claims[0], "approve"), {"reason": "see ghp_" + "b" * 36}, format="json"
            ),
            400,
            errors=["reason"],
        )


def test_reject_returns_the_path_to_unowned(sam, personas, unowned):
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    response = sam.post(claim_url(claim, "reject"), {"reason": DECISION_REASON}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_reason"] == DECISION_REASON
    assert sam.get(url(unowned)).json()["status"] == "unowned"


def test_reject_needs_a_reason(sam, claims):
    with unchanged():
        assert_error(
            sam.post(claim_url(claims[0], "reject"), {}, format="json"), 400, errors=["reason"]
        )


def test_reject_of_a_decided_claim_is_409(sam, claims):
    ours, _ = claims
    sam.post(claim_url(ours, "reject"), {"reason": DECISION_REASON}, format="json")
    with unchanged():
        assert_error(
            sam.post(claim_url(ours, "reject"), {"reason": DECISION_REASON}, format="json"),
            409,
            errors.CLAIM_NOT_PENDING.format(status="rejected"),
        )


def test_unknown_claim_is_404(sam, personas):
    with unchanged():
        assert_error(sam.get(reverse("claim-detail", args=[999999])), 404)
        assert_error(sam.post(reverse("claim-approve", args=[999999]), {}, format="json"), 404)
