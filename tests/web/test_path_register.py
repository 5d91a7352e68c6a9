"""Registering a path on /paths/new/: the live check answers with the service's own
errors and the posture verdict without writing anything; saving goes through the
register service; outsiders, other teams' paths and secrets are refused, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import AccessPath, AuditEvent
from registry.rules import errors
from registry.web.views.path_register import REGISTERED_MESSAGE
from tests.conftest import JUSTIFICATION, TICKET
from tests.web.helpers import nothing_changes, text

pytestmark = pytest.mark.django_db

NEW = reverse("registry:path-new")
CHECK = reverse("registry:path-new-check")
GITHUB_TOKEN = "ghp_" + "x" * 36  # a credential, not an identifier


def form(**overrides) -> dict:
    """What a person fills in for a medium-risk payments path."""
    data = {
        "name": "invoice-mailer",
        "kind": AccessPath.Kind.API_TOKEN,
        "system": "github",
        "environment": AccessPath.Environment.PROD,
        "external_id": "github-invoice-mailer",
        "owner_team": "payments",
        "justification": JUSTIFICATION,
        "ticket_url": TICKET,
        "risk_tier": AccessPath.RiskTier.MEDIUM,
        "privilege_scope": "repo:read on payments/invoices",
        "expires_at": (timezone.now() + dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def select(page: str, name: str) -> str:
    return page.split(f'name="{name}"')[1].split("</select>")[0]


@pytest.fixture
def pat(client, personas):
    client.force_login(personas.users.pat)
    return client


def test_the_form_speaks_labels_in_groups_and_offers_only_my_teams(pat):
    page = text(pat.get(NEW))
    assert '<option value="prod">Production</option>' in page or ">Production<" in page
    legends = ["What it is", "Who answers for it", "Why it exists", "Risk", "Lifetime"]
    positions = [page.index(f"<legend>{legend}") for legend in legends]
    assert positions == sorted(positions)
    owners = select(page, "owner_team")
    assert 'value="payments"' in owners
    assert 'value="data"' not in owners  # pat may register for payments only
    assert 'id="path-verdict"' in page and 'aria-live="polite"' in page
    # Every field names its (empty) error slot, which the live check fills.
    tag = page.split('<textarea name="justification"')[1].split(">")[0]
    described = tag.split('aria-describedby="')[1].split('"')[0].split()
    assert described == ["id_justification_helptext", "id_justification_error"]


def test_security_may_register_for_any_active_team(client, personas):
    client.force_login(personas.users.sam)
    owners = select(text(client.get(NEW)), "owner_team")
    assert 'value="data"' in owners and 'value="payments"' in owners


def test_live_check_shows_the_services_error_and_writes_nothing(pat):
    with nothing_changes():
        response = pat.post(CHECK, form(justification="tbd"))
    assert response.status_code == 200
    page = text(response)
    assert errors.JUSTIFICATION_PLACEHOLDER in page
    assert 'id="id_justification_error" hx-swap-oob="true"' in page
    assert "Not ready yet." in page


def test_live_check_gives_the_posture_verdict_before_saving(pat):
    paths, events = AccessPath.objects.count(), AuditEvent.objects.count()
    with nothing_changes():
        response = pat.post(CHECK, form(privilege_scope="AdministratorAccess"))
    page = text(response)
    assert "Ready to register." in page
    assert "Overprivileged" in page
    assert "The declared privilege scope is an admin role or a wildcard." in page
    assert (AccessPath.objects.count(), AuditEvent.objects.count()) == (paths, events)
    # A path that breaks nothing says so.
    assert "It would break no posture rule." in text(pat.post(CHECK, form()))


def test_live_check_lists_blank_required_fields_without_marking_them(pat):
    response = pat.post(CHECK, form(name="", system=""))
    page = text(response)
    assert "Still to fill in:" in page and ">Name</a>" in page and ">System</a>" in page
    slot = page.split('id="id_name_error"')[1].split("</div>")[0]
    assert "errorlist" not in slot


def test_register_saves_through_the_service_and_lands_on_the_path(pat, personas):
    response = pat.post(NEW, form(), follow=True)
    path = AccessPath.objects.get(external_id="github-invoice-mailer")
    assert response.redirect_chain[-1][0] == reverse("registry:path-detail", args=[path.pk])
    assert REGISTERED_MESSAGE in text(response)
    assert path.owner_team == personas.teams.payments
    assert path.state == AccessPath.State.ACTIVE
    event = AuditEvent.objects.filter(action="access_path.registered").latest("seq")
    assert event.object_id == str(path.pk)


def test_refusal_marks_each_field_and_summarises_at_the_top(pat):
    with nothing_changes():
        response = pat.post(NEW, form(justification="n/a", ticket_url="ftp://x.example/1"))
    assert response.status_code == 400
    page = text(response)
    assert 'id="error-summary"' in page and 'role="alert"' in page
    assert '<a href="#id_justification">Justification</a>' in page
    assert errors.JUSTIFICATION_PLACEHOLDER in page and errors.TICKET_URL_SCHEME in page
    field = page.split('<textarea name="justification"')[1].split(">")[0]
    assert 'aria-invalid="true"' in field and "id_justification_error" in field
    assert 'class="errorlist"' in page


def test_otto_outside_every_team_is_refused(client, personas):
    client.force_login(personas.users.otto)
    with nothing_changes():
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, form(owner_team="")).status_code == 403
        assert client.post(CHECK, form(owner_team="")).status_code == 403
    assert errors.OUTSIDER in text(client.get(NEW))


def test_a_member_cannot_register_for_another_team(pat):
    with nothing_changes():
        response = pat.post(NEW, form(owner_team="data"))
    assert response.status_code == 403  # as the API answers
    assert errors.NOT_A_MEMBER_OF_TEAM in text(response)
    assert errors.NOT_A_MEMBER_OF_TEAM in text(pat.post(CHECK, form(owner_team="data")))


@pytest.mark.parametrize(
    "field",
    ["name", "system", "external_id", "justification", "privilege_scope", "consumers",
     "created_by_ref", "revocation_plan", "data_classification"],
)  # fmt: skip
def test_a_secret_in_any_field_is_refused_naming_it_and_not_echoed(pat, field):
    value = f"ci {GITHUB_TOKEN}"
    with nothing_changes():
        response = pat.post(NEW, form(**{field: value}))
    assert response.status_code == 400
    page = text(response)
    message = errors.LOOKS_LIKE_SECRET.format(kind="GitHub token")
    assert message in page
    slot = page.split(f'id="id_{field}_error"')[1].split("</div>")[0]
    assert message in slot
    assert GITHUB_TOKEN not in page
    with nothing_changes():
        assert GITHUB_TOKEN not in text(pat.post(CHECK, form(**{field: value})))


def test_a_secret_in_a_value_the_form_refuses_first_is_not_echoed(pat):
    value = f"{GITHUB_TOKEN} " + "x" * 100  # too long for the field as well
    with nothing_changes():
        response = pat.post(NEW, form(system=value))
    assert response.status_code == 400
    assert GITHUB_TOKEN not in text(response)
    assert errors.LOOKS_LIKE_SECRET.format(kind="GitHub token") in text(response)


def test_a_secret_among_the_identifiers_is_refused(pat):
    with nothing_changes():
        response = pat.post(NEW, form(identifiers=f"key_id:{GITHUB_TOKEN}\nprincipal:x"))
    assert response.status_code == 400
    assert GITHUB_TOKEN not in text(response)
    slot = text(response).split('id="id_identifiers_error"')[1].split("</div>")[0]
    assert "errorlist" in slot


@pytest.mark.parametrize(
    "overrides",
    [
        {"expires_at": "next tuesday"},
        {"expires_at": "2001-01-01T00:00:00"},
        {"kind": "rocket"},
        {"environment": "production"},
        {"owner_team": "no-such-team"},
        {"identifiers": "no colon here"},
        {"rotation_days": "-3"},
        {"ticket_url": "not a url at all"},
        {"name": "x" * 5000},
        {"risk_tier": "high"},  # no approver named
        {"approved_by_team": "ghost"},
    ],
)
def test_bad_input_is_a_clear_error_never_a_500(pat, overrides):
    with nothing_changes():
        response = pat.post(NEW, form(**overrides))
        live = pat.post(CHECK, form(**overrides))
    assert response.status_code == 400
    assert 'id="error-summary"' in text(response)
    assert live.status_code == 200
    assert "Not ready yet." in text(live)


def test_a_value_that_did_not_parse_gets_one_message_not_two(pat):
    page = text(pat.post(CHECK, form(kind="rocket")))
    slot = page.split('id="id_kind_error"')[1].split("</div>")[0]
    assert "Select a valid choice" in slot
    assert errors.REQUIRED not in slot


def test_the_live_check_says_nothing_about_other_paths(pat, personas, make_path):
    """Asked on every keystroke and unaudited, the check must be no oracle for what
    other teams hold: a taken external id and its twins show only on registering."""
    make_path(owner_team=personas.teams.data, system="github", external_id="github-invoice-mailer")
    make_path(
        owner_team=personas.teams.data,
        system="aws",
        external_id="github-invoice-mailer",
        environment=AccessPath.Environment.STAGING,
    )
    with nothing_changes():
        page = text(pat.post(CHECK, form()))
    assert "Ready to register." in page
    assert errors.DUPLICATE_EXTERNAL_ID not in page and "Not found" not in page
    assert "NHI9 </span>" not in page and "Reuse" not in page.split("Before you save")[1]
    # Registering does look, with the answer an invisible path always gets.
    with nothing_changes():
        refused = pat.post(NEW, form())
    assert refused.status_code == 404


def test_a_taken_external_id_of_my_own_team_is_named_on_registering(pat, make_path):
    make_path(system="github", external_id="github-invoice-mailer")
    with nothing_changes():
        response = pat.post(NEW, form())
    assert response.status_code == 400
    slot = text(response).split('id="id_external_id_error"')[1].split("</div>")[0]
    assert errors.DUPLICATE_EXTERNAL_ID in slot


def test_unowned_registration_by_a_member_waits_for_a_claim(pat):
    response = pat.post(NEW, form(owner_team="", justification="", ticket_url=""))
    assert response.status_code == 302
    path = AccessPath.objects.get(external_id="github-invoice-mailer")
    assert path.state == AccessPath.State.UNOWNED
