"""The "My work" landing page and deciding claims and transfers in place on the queues."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, Claim, Transfer
from registry.rules import errors
from tests.assertions import records
from tests.conftest import NOW
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

CLAIM_REASON = "The payments nightly jobs run under this identity."
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def claims(personas, make_path):
    """Three pending claims by pat for payments, oldest first; the first path is broad."""
    made = []
    for i in range(3):
        path = make_path(
            name=f"legacy-bot-{i}",
            owner_team=None,
            steward_team=personas.teams.platform,
            justification="",
            ticket_url="",
            privilege_scope="AdministratorAccess" if i == 0 else "s3 read on one bucket",
        )
        made.append(
            services.path_claim(
                actor=personas.pat,
                path=path,
                team=personas.teams.payments,
                reason=CLAIM_REASON,
                now=NOW,
            )
        )
    return made


def test_sign_in_lands_on_my_work(client, personas):
    response = client.post(
        reverse("login"), {"username": "pat", "password": "nhi-demo-pass"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("registry:my-work")
    assert "My work" in text(response)


def test_my_work_counts_link_to_their_lists(client, personas, claims):
    client.force_login(personas.users.sam)
    page = text(client.get(reverse("registry:my-work")))
    assert "Claims to decide" in page
    assert reverse("registry:queue-claims") in page
    assert "Security queues" in page

    client.force_login(personas.users.pat)
    page = text(client.get(reverse("registry:my-work")))
    assert "Reviews due" in page
    assert "Claims to decide" not in page  # pat decides no claims
    assert "Dead notifications" not in page  # security's counts are security's


def test_someone_in_no_team_is_told_why_the_page_is_empty(client, personas):
    client.force_login(personas.users.otto)
    assert "not in any team" in text(client.get(reverse("registry:my-work")))


def test_my_work_needs_a_sign_in(client):
    response = client.get(reverse("registry:my-work"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_claim_queue_shows_each_paths_context(client, personas, claims):
    client.force_login(personas.users.sam)
    page = text(client.get(reverse("registry:queue-claims")))
    assert "AdministratorAccess" in page
    assert "Overprivileged" in page  # the path page's words for NHI5
    assert "High" in page and "aws" in page and "Production" in page
    assert CLAIM_REASON in page and "pat" in page


def test_approve_in_place_with_htmx_swaps_the_row_for_its_outcome(client, personas, claims):
    client.force_login(personas.users.sam)
    first, second, _ = claims
    url = reverse("registry:queue-claim-decide", args=[first.pk, "approve"])
    with records("claim.approved"):
        response = client.post(url, {"next": second.pk}, **HX)
    assert response.status_code == 200
    body = text(response)
    assert "Approved: payments owns legacy-bot-0 now." in body
    assert f'data-next="claim-{second.pk}"' in body
    path = AccessPath.objects.get(pk=first.path_id)
    assert (path.state, path.owner_team_id) == ("active", personas.teams.payments.pk)


def test_without_javascript_the_queue_comes_back_at_the_next_claim(client, personas, claims):
    client.force_login(personas.users.sam)
    first, second, _ = claims
    url = reverse("registry:queue-claim-decide", args=[first.pk, "approve"])
    response = client.post(url, {"next": second.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:queue-claims") + f"#claim-{second.pk}"


def test_reject_in_place_needs_a_reason_and_changes_nothing(client, personas, claims):
    client.force_login(personas.users.sam)
    url = reverse("registry:queue-claim-decide", args=[claims[0].pk, "reject"])
    with records():
        response = client.post(url, {"reason": ""}, **HX)
    assert response.status_code == 400
    assert "Reason: This field is required." in text(response)
    assert Claim.objects.get(pk=claims[0].pk).status == Claim.Status.PENDING

    with records("claim.rejected"):
        response = client.post(url, {"reason": "Not theirs: it runs the growth jobs."}, **HX)
    assert response.status_code == 200
    assert Claim.objects.get(pk=claims[0].pk).status == Claim.Status.REJECTED


def test_four_eyes_hold_in_place(client, personas, make_path, sid):
    """sam cannot approve a claim he made: the queue offers no button, the service refuses."""
    path = make_path(
        owner_team=None, steward_team=personas.teams.platform, justification="", ticket_url=""
    )
    own = services.path_claim(
        actor=personas.sam, path=path, team=personas.teams.security, reason=CLAIM_REASON, now=NOW
    )
    client.force_login(personas.users.sam)
    page = text(client.get(reverse("registry:queue-claims")))
    assert errors.SELF_REVIEW_FORBIDDEN in page
    assert reverse("registry:queue-claim-decide", args=[own.pk, "approve"]) not in page

    url = reverse("registry:queue-claim-decide", args=[own.pk, "approve"])
    response = client.post(url, {}, **HX)
    assert response.status_code == 403
    assert errors.SELF_REVIEW_FORBIDDEN in text(response)
    assert Claim.objects.get(pk=own.pk).status == Claim.Status.PENDING


def test_the_claim_queue_does_not_exist_for_others(client, personas, claims):
    client.force_login(personas.users.lee)
    assert client.get(reverse("registry:queue-claims")).status_code == 404
    url = reverse("registry:queue-claim-decide", args=[claims[0].pk, "approve"])
    assert client.post(url).status_code == 404
    assert Claim.objects.get(pk=claims[0].pk).status == Claim.Status.PENDING


def test_unknown_decision_is_a_404(client, personas, claims):
    client.force_login(personas.users.sam)
    url = reverse("registry:queue-claim-decide", args=[claims[0].pk, "maybe"])
    assert client.post(url).status_code == 404


def test_dana_accepts_a_transfer_in_place(client, personas, make_path):
    path = make_path(name="ledger-export")
    transfer = services.path_transfer(
        actor=personas.lee, path=path, to_team=personas.teams.data, reason="Data runs it.", now=NOW
    )
    client.force_login(personas.users.dana)
    page = text(client.get(reverse("registry:queue-mine")))
    assert "ledger-export" in page and "Violations" in page

    url = reverse("registry:queue-transfer-answer", args=[transfer.pk, "accept"])
    response = client.post(url, {}, **HX)
    assert response.status_code == 200
    assert "Accepted: data owns ledger-export now." in text(response)
    assert Transfer.objects.get(pk=transfer.pk).status == Transfer.Status.ACCEPTED


def test_a_transfer_offered_to_another_team_is_a_404(client, personas, make_path):
    path = make_path(name="ledger-export")
    transfer = services.path_transfer(
        actor=personas.lee, path=path, to_team=personas.teams.data, reason="Data runs it.", now=NOW
    )
    client.force_login(personas.users.pat)
    url = reverse("registry:queue-transfer-answer", args=[transfer.pk, "accept"])
    assert client.post(url).status_code == 404
    assert Transfer.objects.get(pk=transfer.pk).status == Transfer.Status.PENDING


def test_without_javascript_a_refusal_comes_back_at_its_row(client, personas, claims):
    client.force_login(personas.users.sam)
    url = reverse("registry:queue-claim-decide", args=[claims[1].pk, "reject"])
    response = client.post(url, {"reason": ""}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("registry:queue-claims") + (
        f"#claim-{claims[1].pk}"
    )
    assert "Reason: This field is required." in text(response)
    assert Claim.objects.get(pk=claims[1].pk).status == Claim.Status.PENDING
