"""Transfers through the API: offering a path, then the transfers resource (list,
retrieve, accept, decline)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import Notification, Transfer
from registry.rules import errors
from tests.api.helpers import (
    TRANSFER_REASON,
    assert_error,
    bearer,
    issue,
    results,
    session,
    unchanged,
    url,
)

pytestmark = pytest.mark.django_db

# --- access-paths: transfer -----------------------------------------------------------


def test_transfer_offers_the_path(lee, own):
    response = lee.post(
        url(own, "transfer"),
        {"to_team": "data", "reason": TRANSFER_REASON},
        format="json",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["from_team"] == "payments" and response.json()["to_team"] == "data"
    assert response.json()["status"] == "pending"
    own.refresh_from_db()
    assert own.owner_team.slug == "payments"  # until data accepts
    assert Notification.objects.filter(team__slug="data", path=own).exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"to_team": "payments", "reason": TRANSFER_REASON}, {"to_team": errors.SAME_TEAM}),
        ({"to_team": "no-such-team", "reason": TRANSFER_REASON}, ["to_team"]),
        ({"to_team": "data"}, ["reason"]),
        ({"to_team": "data", "reason": "  "}, ["reason"]),
    ],
)
def test_transfer_refuses_bad_input_per_field(lee, own, body, expected):
    with unchanged():
        assert_error(lee.post(url(own, "transfer"), body, format="json"), 400, errors=expected)


def test_transfer_by_a_member_who_is_not_lead_is_403(pat, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    with unchanged():
        assert_error(pat.post(url(own, "transfer"), body, format="json"), 403, errors.NOT_A_LEAD)


def test_a_second_pending_transfer_is_409(lee, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    assert lee.post(url(own, "transfer"), body, format="json").status_code == 201
    with unchanged():
        assert_error(
            lee.post(url(own, "transfer"), body | {"to_team": "growth"}, format="json"),
            409,
            errors.TRANSFER_ALREADY_PENDING,
        )


def test_transfer_of_an_unowned_path_is_409(sam, unowned):
    with unchanged():
        assert_error(
            sam.post(
                url(unowned, "transfer"),
                {"to_team": "data", "reason": TRANSFER_REASON},
                format="json",
            ),
            409,
            errors.PATH_NOT_OWNED,
        )


def test_transfer_with_a_stale_if_match_is_412(lee, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    with unchanged():
        assert_error(
            lee.post(url(own, "transfer"), body, format="json", HTTP_IF_MATCH='W/"5"'),
            412,
            errors.STALE_VERSION.format(expected=5, actual=1),
        )


# --- transfers ------------------------------------------------------------------------


def transfer_url(transfer: Transfer, action: str | None = None) -> str:
    return reverse(f"transfer-{action}" if action else "transfer-detail", args=[transfer.pk])


def test_transfers_list_and_retrieve(dana, offer):
    assert [item["id"] for item in results(dana.get(reverse("transfer-list")))] == [offer.pk]
    data = dana.get(transfer_url(offer)).json()
    assert (data["from_team"], data["to_team"], data["status"]) == ("payments", "data", "pending")


def test_accept_moves_ownership(dana, offer, own):
    response = dana.post(transfer_url(offer, "accept"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    assert dana.get(url(own)).json()["owner_team"] == "data"


def test_decline_keeps_the_owner(dana, offer, own):
    response = dana.post(transfer_url(offer, "decline"), {"reason": "Not ours."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "declined"
    own.refresh_from_db()
    assert own.owner_team.slug == "payments" and own.version == 1


def test_decline_needs_a_reason(dana, offer):
    with unchanged():
        assert_error(
            dana.post(transfer_url(offer, "decline"), {}, format="json"), 400, errors=["reason"]
        )


def test_a_decided_transfer_is_409(dana, offer):
    assert dana.post(transfer_url(offer, "accept"), format="json").status_code == 200
    with unchanged():
        assert_error(
            dana.post(transfer_url(offer, "accept"), format="json"),
            409,
            errors.TRANSFER_NOT_PENDING.format(status="accepted"),
        )
        assert_error(
            dana.post(transfer_url(offer, "decline"), {"reason": "Not ours."}, format="json"),
            409,
            errors.TRANSFER_NOT_PENDING.format(status="accepted"),
        )


def test_accept_by_the_offering_team_is_403(lee, offer):
    with unchanged():
        assert_error(
            lee.post(transfer_url(offer, "accept"), format="json"), 403, errors.NOT_A_MEMBER_OF_TEAM
        )


def test_accept_by_the_receiving_teams_token_is_403(personas, offer):
    data_ci = bearer(issue(personas, team="data")[1])
    with unchanged():
        assert_error(
            data_ci.post(transfer_url(offer, "accept"), format="json"), 403, errors.HUMAN_REQUIRED
        )


def test_transfer_invisible_is_404(personas, offer):
    gwen = session(personas.users.gwen)
    with unchanged():
        assert_error(gwen.get(transfer_url(offer)), 404)
        assert_error(gwen.post(transfer_url(offer, "accept"), format="json"), 404)
