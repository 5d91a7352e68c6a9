"""Claims carry the ticket and the justification, so an approved claim is a complete
record: the claim form asks for both (prefilled from the path), they are checked by the
rules a registration uses, and approving the claim writes them onto the path, which then
breaks neither "missing ticket" nor "weak justification". The API takes the same fields.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, Claim, PolicyException
from registry.rules import errors
from registry.rules.policies import current_policy
from registry.rules.posture import path_violations
from tests.conftest import JUSTIFICATION, TICKET
from tests.web.helpers import CLAIM_REASON, detail_url, fresh, nothing_changes, text

pytestmark = pytest.mark.django_db

NEW_TICKET = "https://tickets.example.com/browse/PAY-77"
NEW_JUSTIFICATION = "The payout batch signs settlement files with this account every night."
Rule = PolicyException.Rule


def claim_url(path) -> str:
    return reverse("registry:path-claim", args=[path.pk])


def approve_url(claim) -> str:
    return reverse("registry:claim-decide", args=[claim.path_id, claim.pk, "approve"])


def broken_rules(path) -> set[str]:
    return {
        rule.code for rule in path_violations(path, now=timezone.now(), policy=current_policy())
    }


@pytest.fixture
def documented_unowned(make_path, personas):
    """An unowned path that already has a ticket and a justification."""
    return make_path(owner_team=None, steward_team=personas.teams.platform, name="documented")


def test_the_claim_form_is_prefilled_from_the_path(client, personas, documented_unowned):
    client.force_login(personas.users.pat)
    page = text(client.get(detail_url(documented_unowned)))
    assert f'name="ticket_url" value="{TICKET}"' in page
    assert f">\n{JUSTIFICATION}</textarea>" in page
    assert 'for="claim_ticket_url">Ticket link</label>' in page


def test_an_approved_browser_claim_leaves_a_complete_record(client, personas, unowned_path):
    assert not unowned_path.ticket_url and not unowned_path.justification
    client.force_login(personas.users.pat)
    response = client.post(
        claim_url(unowned_path),
        {
            "team": "payments",
            "reason": CLAIM_REASON,
            "ticket_url": NEW_TICKET,
            "justification": NEW_JUSTIFICATION,
        },
    )
    assert response.status_code == 302
    claim = Claim.objects.get(path=unowned_path)
    assert (claim.reason, claim.ticket_url, claim.justification) == (
        CLAIM_REASON,
        NEW_TICKET,
        NEW_JUSTIFICATION,
    )

    # The reviewer sees what the record will say before approving it.
    client.force_login(personas.users.sam)
    page = text(client.get(detail_url(unowned_path)))
    assert NEW_TICKET in page and NEW_JUSTIFICATION in page and CLAIM_REASON in page
    assert client.post(approve_url(claim), {"reason": ""}).status_code == 302

    path = fresh(unowned_path)
    assert path.owner_team == personas.teams.payments
    assert (path.ticket_url, path.justification) == (NEW_TICKET, NEW_JUSTIFICATION)
    assert not broken_rules(path) & {Rule.MISSING_TICKET, Rule.WEAK_JUSTIFICATION}
    approved = AuditEvent.objects.get(action="claim.approved")
    assert approved.changes["ticket_url"] == ["", NEW_TICKET]
    assert approved.changes["justification"] == ["", NEW_JUSTIFICATION]
    assert fresh_claim(claim).reason == CLAIM_REASON  # the claim keeps its own reason


def fresh_claim(claim) -> Claim:
    return Claim.objects.get(pk=claim.pk)


def test_kept_values_come_from_the_path_and_the_reason_stands_in(
    client, personas, documented_unowned, unowned_path
):
    client.force_login(personas.users.pat)
    # The browser's form starts with the path's own ticket and justification.
    data = {"team": "payments", "reason": CLAIM_REASON, "ticket_url": TICKET, "justification": ""}
    assert client.post(claim_url(documented_unowned), data).status_code == 302
    kept = Claim.objects.get(path=documented_unowned)
    assert (kept.ticket_url, kept.justification) == (TICKET, JUSTIFICATION)
    # A path without a ticket: the browser asks for one, so the approved record is complete.
    data = {"team": "payments", "reason": CLAIM_REASON, "ticket_url": "", "justification": ""}
    with nothing_changes():
        refused = client.post(claim_url(unowned_path), data)
    assert refused.status_code == 400
    assert errors.REQUIRED in refused.context["forms"]["claim"].errors["ticket_url"]
    assert (
        client.post(claim_url(unowned_path), data | {"ticket_url": NEW_TICKET}).status_code == 302
    )
    # No justification anywhere: the claim's reason, which passed the same check, is it.
    stood_in = Claim.objects.get(path=unowned_path)
    assert (stood_in.ticket_url, stood_in.justification) == (NEW_TICKET, CLAIM_REASON)
    services.claim_approve(actor=personas.sam, claim=stood_in)
    path = fresh(unowned_path)
    assert (path.ticket_url, path.justification) == (NEW_TICKET, CLAIM_REASON)
    assert not broken_rules(path) & {Rule.MISSING_TICKET, Rule.WEAK_JUSTIFICATION}


def test_an_api_claim_without_any_ticket_leaves_the_gap_visible(personas, unowned_path):
    """The API keeps the ticket optional; when nothing gives one, the registry says so
    rather than inventing one."""
    claim = services.path_claim(
        actor=personas.pat, path=unowned_path, team=personas.teams.payments, reason=CLAIM_REASON
    )
    services.claim_approve(actor=personas.sam, claim=claim)
    assert Rule.MISSING_TICKET in broken_rules(fresh(unowned_path))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ticket_url": "ftp://tickets.example.com/1"}, "ticket_url", errors.TICKET_URL_SCHEME),
        ({"ticket_url": "https://exa mple.com/x"}, "ticket_url", errors.TICKET_URL_INVALID),
        ({"justification": "n/a"}, "justification", errors.JUSTIFICATION_PLACEHOLDER),
        (
            {"justification": "Uses AKIAIOSFODNN7EXAMPLE for the nightly payout batch job."},
            "justification",
            errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id"),
        ),
        ({"ticket_url": "https://x.example/" + "a" * 500}, "ticket_url", "at most 500"),
    ],
)
def test_a_bad_ticket_or_justification_is_refused_next_to_its_field(
    client, personas, unowned_path, changes, field, message
):
    data = {"team": "payments", "reason": CLAIM_REASON, "ticket_url": TICKET} | changes
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = client.post(claim_url(unowned_path), data)
    assert response.status_code == 400
    errors_of = response.context["forms"]["claim"].errors
    assert any(message in e for e in errors_of[field]), errors_of
    assert message in text(response)
    assert unowned_path.state == fresh(unowned_path).state == AccessPath.State.UNOWNED


def test_the_api_claim_takes_the_same_fields(personas, unowned_path):
    api = APIClient()
    api.force_authenticate(personas.users.pat)
    url = f"/api/v1/access-paths/{unowned_path.pk}/claim/"
    with nothing_changes():
        refused = api.post(
            url,
            {"team": "payments", "reason": CLAIM_REASON, "ticket_url": "mailto:x@example.com"},
            format="json",
        )
    assert refused.status_code == 400
    assert errors.TICKET_URL_SCHEME in str(refused.json())

    body = {
        "team": "payments",
        "reason": CLAIM_REASON,
        "ticket_url": NEW_TICKET,
        "justification": NEW_JUSTIFICATION,
    }
    response = api.post(url, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["ticket_url"] == NEW_TICKET
    assert response.json()["justification"] == NEW_JUSTIFICATION
