"""Provenance and the issuer on the pages (issue 18, items 2 and 5): the register and
edit forms' "Provenance" and "Issuer" groups round-trip the fields through the services,
a refusal names each missing field and saves nothing, and the path page shows a
"Provenance" card, the issuer's kind and maximum, and the reported MFA."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import AccessPath
from registry.rules import errors
from tests.conftest import CHANGE_URL, JUSTIFICATION, TICKET
from tests.web.helpers import detail_url, fresh, nothing_changes, submit_edit, text

pytestmark = pytest.mark.django_db

NEW = reverse("registry:path-new")


def form(**overrides) -> dict:
    """A person registering an agent credential an AI assistant proposed."""
    data = {
        "name": "triage-agent",
        "kind": AccessPath.Kind.AGENT_CREDENTIAL,
        "system": "github",
        "environment": AccessPath.Environment.PROD,
        "external_id": "app-installation/55120",
        "owner_team": "payments",
        "created_via": AccessPath.CreatedVia.AI_AGENT,
        "justification": JUSTIFICATION,
        "ticket_url": TICKET,
        "risk_tier": AccessPath.RiskTier.MEDIUM,
        "credential_lifetime": AccessPath.CredentialLifetime.SHORT_LIVED,
        "expires_at": (timezone.now() + dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%S"),
        "change_url": CHANGE_URL,
        "merged_by": "lee",
        "merged_by_team": "payments",
        "proposed_by": "code-assistant 2.3",
        "issuer_kind": AccessPath.IssuerKind.GITHUB_APP,
        "max_lease_seconds": "3600",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def pat(client, personas):
    client.force_login(personas.users.pat)
    return client


def test_the_form_groups_provenance_and_the_issuer_and_leaves_mfa_to_sources(pat):
    page = text(pat.get(NEW))
    legends = ["Who answers for it", "Provenance", "Why it exists", "Lifetime", "Issuer"]
    positions = [page.index(f"<legend>{legend}") for legend in legends]
    assert positions == sorted(positions)
    for name in ("change_url", "merged_by", "merged_by_team", "proposed_by", "max_lease_seconds"):
        assert f'name="{name}"' in page
    assert 'name="mfa_active"' not in page


def test_register_saves_the_provenance_and_the_page_shows_it(pat, personas):
    response = pat.post(NEW, form(), follow=True)
    path = AccessPath.objects.get(external_id="app-installation/55120")
    assert response.redirect_chain[-1][0] == detail_url(path)
    assert (path.change_url, path.merged_by, path.proposed_by) == (
        CHANGE_URL,
        "lee",
        "code-assistant 2.3",
    )
    assert path.merged_by_team == personas.teams.payments
    assert (path.issuer_kind, path.max_lease_seconds) == ("github_app", 3600)
    page = text(response)
    card = page.split('id="provenance-heading"')[1].split("</section>")[0]
    assert f'href="{CHANGE_URL}"' in card
    assert "lee (Payments)" in card and "code-assistant 2.3" in card
    assert "GitHub App installation, leases of at most 3600 seconds" in page
    assert "<dt>MFA</dt><dd>not reported</dd>" in page


def test_the_merging_team_owns_it_when_no_owner_is_chosen(pat, personas):
    pat.post(NEW, form(owner_team=""))
    path = AccessPath.objects.get(external_id="app-installation/55120")
    assert path.owner_team == personas.teams.payments


def test_a_missing_provenance_marks_each_field_and_saves_nothing(pat):
    blank = {"change_url": "", "merged_by": "", "merged_by_team": "", "proposed_by": ""}
    with nothing_changes():
        response = pat.post(NEW, form(**blank))
    assert response.status_code == 400
    page = text(response)
    required = errors.PROVENANCE_REQUIRED.format(created_via="ai_agent")
    for name in blank:
        slot = page.split(f'id="id_{name}_error"')[1].split("</div>")[0]
        assert required in slot


def test_the_edit_form_round_trips_the_fields(client, personas, make_path):
    path = make_path(created_via=AccessPath.CreatedVia.PIPELINE, mfa_active=True)
    client.force_login(personas.users.lee)
    response = submit_edit(
        client,
        path,
        merged_by="dana",
        merged_by_team="data",
        issuer_kind="vault_role",
        max_lease_seconds="900",
    )
    assert response.status_code == 302
    after = fresh(path)
    assert (after.merged_by, after.merged_by_team, after.issuer_kind) == (
        "dana",
        personas.teams.data,
        "vault_role",
    )
    assert after.max_lease_seconds == 900 and after.mfa_active is True  # not on the form
    assert after.change_url == CHANGE_URL and after.version == 2
    page = text(client.get(detail_url(path)))
    assert "dana (Data)" in page and "<dt>MFA</dt><dd>on</dd>" in page


def test_the_edit_form_refuses_clearing_the_change(client, personas, make_path):
    path = make_path(created_via=AccessPath.CreatedVia.PIPELINE)
    client.force_login(personas.users.lee)
    with nothing_changes():
        response = submit_edit(client, path, change_url="")
    assert response.status_code == 400
    assert errors.PROVENANCE_REQUIRED.format(created_via="pipeline") in text(response)


def test_a_path_a_person_made_shows_no_provenance_card(client, personas, make_path):
    path = make_path(created_via=AccessPath.CreatedVia.HUMAN)
    client.force_login(personas.users.pat)
    assert 'id="provenance-heading"' not in text(client.get(detail_url(path)))
