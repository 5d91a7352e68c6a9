"""Every message of registry/rules/errors.py, asserted where a person or a script meets
it: each refusal below goes through the real service (or the API) and shows the
constant's words. Incidents and their intakes are in test_error_messages_incidents.py;
tests/rules/test_errors_asserted.py keeps every constant asserted somewhere."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.audit.chain import slot_values
from registry.models import AccessPath, AuditEvent, ChangeRequest, PolicyException, Team
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed, NotFound, StaleVersion
from registry.rules.validation import credential_in
from registry.services import paths as path_services
from registry.services.identifiers import MAX_IDENTIFIERS
from registry.services.tokens import token_create, token_revoke
from tests.assertions import refused
from tests.conftest import NOW, path_data

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
# A GitHub personal access token shape (a test value, not a live token).
GH_TOKEN = "ghp_" + "R8sYmZ3kVq2LwT9pXc4NbH6dJf1GaE0uKi7o"
REASON = "The HSM-backed signing key is rotated by the vendor, never by us."


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def update(actor, path, **changes) -> AccessPath:
    return services.path_update(actor=actor, path=path, changes=changes, now=NOW)


# --- who may act ------------------------------------------------------------------------


def test_a_personal_token_for_someone_else_is_not_allowed(personas):
    with refused(NotAllowed, errors.NOT_ALLOWED):
        token_create(
            actor=personas.pat, name="lee's", scopes=["read"], user=personas.users.lee, now=NOW
        )


def test_only_its_owner_removes_a_saved_filter(personas):
    saved = services.saved_filter_create(
        actor=personas.pat, name="Overdue", query="status=overdue", now=NOW
    )
    with refused(NotAllowed, errors.NOT_ALLOWED):
        services.saved_filter_archive(actor=personas.lee, saved=saved, now=NOW)


# --- paths: validation ------------------------------------------------------------------


def test_a_ticket_link_that_is_no_url(personas, path):
    with refused(Invalid) as caught:
        update(personas.pat, path, ticket_url="https://tickets example com/SEC-1")
    assert errors.TICKET_URL_INVALID in caught.value.errors["ticket_url"]


@pytest.mark.parametrize("revokers", [["payments"], "payments"], ids=["slugs", "not-a-list"])
def test_revoker_teams_must_be_a_list_of_teams(personas, path, revokers):
    with refused(Invalid, errors.REVOKER_TEAMS_INVALID) as caught:
        update(personas.sam, path, revoker_teams=revokers)
    assert caught.value.field == "revoker_teams"


def test_at_most_twenty_revoker_teams(personas, path):
    teams = [
        services.team_create(
            actor=personas.system,
            data={"slug": f"ops-{i:02d}", "name": f"Ops {i}", "kind": "product"},
            now=NOW,
        )
        for i in range(path_services.MAX_REVOKER_TEAMS + 1)
    ]
    with refused(Invalid, errors.REVOKER_TEAMS_INVALID):
        update(personas.sam, path, revoker_teams=teams)


def test_an_approval_date_needs_its_approver(personas, make_path):
    low = make_path(risk_tier=AccessPath.RiskTier.LOW)
    with refused(Invalid, errors.APPROVAL_WITHOUT_APPROVER) as caught:
        update(personas.pat, low, approved_at=NOW - DAY)
    assert caught.value.field == "approved_by"


def test_registering_an_external_id_held_by_an_invisible_path_is_not_found(personas, make_path):
    theirs = make_path(owner_team=personas.teams.data)
    data = path_data(owner_team=personas.teams.payments, external_id=theirs.external_id)
    with refused(NotFound, errors.NOT_FOUND):
        services.path_register(actor=personas.pat, data=data, now=NOW)
    response = api_as(personas.users.pat).post(
        reverse("access-path-register"),
        {"system": theirs.system, "external_id": theirs.external_id, "consumers": "ours"},
        format="json",
    )
    assert response.status_code == 404, response.content
    assert response.json()["detail"] == errors.NOT_FOUND


def test_a_write_after_someone_elses_is_refused(personas, path, monkeypatch):
    """Another writer commits between the row lock and the compare-and-set."""
    real_lock = path_services.lock_path

    def lock_then_someone_else_writes(path_id):
        locked = real_lock(path_id)
        AccessPath.objects.filter(pk=path_id).update(version=F("version") + 1)
        return locked

    monkeypatch.setattr(path_services, "lock_path", lock_then_someone_else_writes)
    with pytest.raises(InvalidTransition) as caught:
        update(personas.pat, path, consumers="the nightly billing job")
    assert caught.value.message == errors.PATH_CHANGED_CONCURRENTLY
    assert AccessPath.objects.get(pk=path.pk).consumers != "the nightly billing job"


# --- identifiers ------------------------------------------------------------------------


def test_identifiers_must_be_kind_value_pairs(personas, path):
    with refused(Invalid, errors.IDENTIFIERS_INVALID):
        update(personas.pat, path, identifiers="key_id:AKIAIOSFODNN7EXAMPLE")
    with refused(Invalid, errors.IDENTIFIERS_INVALID):
        update(personas.pat, path, identifiers=[{"kind": "key_id", "value": "x", "note": "y"}])


def test_the_api_refuses_identifiers_that_are_not_pairs(personas, path):
    response = api_as(personas.users.pat).patch(
        reverse("access-path-detail", args=[path.pk]),
        {"identifiers": [{"kind": "key_id", "value": "AKIAIOSFODNN7EXAMPLE", "note": "x"}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["identifiers"] == [errors.IDENTIFIERS_INVALID]


def test_an_identifier_that_is_a_credential(personas, path):
    kind = credential_in("external_id", GH_TOKEN).kind
    with refused(Invalid, errors.IDENTIFIER_IS_A_CREDENTIAL.format(kind=kind)) as caught:
        update(personas.pat, path, identifiers=[{"kind": "key_id", "value": GH_TOKEN}])
    assert GH_TOKEN not in str(caught.value.errors)


def test_at_most_so_many_identifiers(personas, path):
    many = [{"kind": "key_id", "value": f"key-{i:03d}"} for i in range(MAX_IDENTIFIERS + 1)]
    with refused(Invalid, errors.TOO_MANY_IDENTIFIERS.format(count=MAX_IDENTIFIERS)):
        update(personas.pat, path, identifiers=many)


# --- tokens -----------------------------------------------------------------------------


def test_a_token_needs_known_scopes(personas):
    for scopes in ([], ["admin"], ["read", "root"]):
        with refused(Invalid, errors.TOKEN_SCOPES) as caught:
            token_create(
                actor=personas.system,
                name="ci",
                scopes=scopes,
                team=personas.teams.payments,
                now=NOW,
            )
        assert caught.value.field == "scopes"


def test_a_token_is_revoked_once(personas):
    token, _ = token_create(
        actor=personas.system, name="ci", scopes=["read"], team=personas.teams.payments, now=NOW
    )
    token_revoke(actor=personas.sam, token=token, reason="Rotated after a leak.", now=NOW)
    with refused(InvalidTransition, errors.TOKEN_REVOKED):
        token_revoke(actor=personas.sam, token=token, reason="Again.", now=NOW)


# --- teams ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["not-a-secret", "whsec_c2hvcnQ=", "whsec_%%%"])
def test_an_event_webhook_secret_in_the_wrong_format(personas, secret):
    with refused(Invalid, errors.WEBHOOK_SECRET_FORMAT) as caught:
        services.team_update(
            actor=personas.lee,
            team=personas.teams.payments,
            changes={
                "event_webhook_url": "https://hooks.example.com/payments",
                "event_webhook_secret": secret,
            },
            now=NOW,
        )
    assert caught.value.field == "event_webhook_secret"


def test_a_team_cannot_be_its_own_ancestor(personas):
    teams = personas.teams
    services.team_update(
        actor=personas.sam, team=teams.payments, changes={"parent": teams.platform}, now=NOW
    )
    payments = Team.objects.get(pk=teams.payments.pk)  # as a form reads it: with its parent
    with refused(Invalid, errors.TEAM_PARENT_CYCLE):
        services.team_update(
            actor=personas.sam, team=teams.platform, changes={"parent": payments}, now=NOW
        )
    with refused(Invalid, errors.TEAM_PARENT_CYCLE):
        services.team_update(
            actor=personas.sam, team=teams.data, changes={"parent": teams.data}, now=NOW
        )


# --- control points ---------------------------------------------------------------------


def test_a_stale_control_policy_edit(personas):
    def set_owners(expected_version):
        return services.system_control_policy_set(
            actor=personas.sam,
            system="aws",
            iam_team=personas.teams.platform,
            pam_team=None,
            secops_team=personas.teams.security,
            expected_version=expected_version,
            now=NOW,
        )

    set_owners(0)
    with refused(StaleVersion, errors.CONTROL_POLICY_STALE.format(expected=0, actual=1)):
        set_owners(0)
    response = api_as(personas.users.sam).put(
        reverse("control-policy-detail", args=["aws"]),
        {"iam_team": "platform", "pam_team": None, "secops_team": "security"},
        format="json",
        HTTP_IF_MATCH='"5"',
    )
    assert response.status_code == 412, response.content
    assert response.json()["detail"] == errors.CONTROL_POLICY_STALE.format(expected=5, actual=1)


# --- claims, transfers, exceptions ------------------------------------------------------


def test_a_team_may_have_only_so_many_claims_waiting(personas, make_path, settings):
    settings.NHI_POLICY = {"max_pending_requests_per_team": 1}
    first, second = (
        make_path(owner_team=None, steward_team=personas.teams.platform) for _ in range(2)
    )
    claim = {"actor": personas.pat, "team": personas.teams.payments, "now": NOW}
    services.path_claim(path=first, reason="Our nightly billing export job uses it.", **claim)
    message = errors.TOO_MANY_PENDING.format(team="Payments", count=1, what="claims")
    with refused(Invalid, message) as caught:
        services.path_claim(path=second, reason="Our invoice mailer job uses it too.", **claim)
    assert caught.value.field == "team"


def test_a_team_may_have_only_so_many_exceptions_waiting(personas, make_path, settings):
    settings.NHI_POLICY = {"max_pending_requests_per_team": 1}
    first, second = make_path(), make_path()
    ask = {
        "actor": personas.pat,
        "rule": PolicyException.Rule.NO_EXPIRY,
        "reason": REASON,
        "expires_at": NOW + 90 * DAY,
        "now": NOW,
    }
    services.exception_request(path=first, **ask)
    message = errors.TOO_MANY_PENDING.format(team="Payments", count=1, what="exceptions")
    with refused(Invalid, message) as caught:
        services.exception_request(path=second, **ask)
    assert caught.value.field == "path"


def test_a_transfer_of_a_path_that_changed_owner_meanwhile(personas, path):
    transfer = services.path_transfer(
        actor=personas.lee,
        path=path,
        to_team=personas.teams.data,
        reason="The data team runs the export now.",
        now=NOW,
    )
    # Ownership moved under the offer (an operator's fix made in the database).
    AccessPath.objects.filter(pk=path.pk).update(owner_team=personas.teams.growth)
    with refused(InvalidTransition, errors.TRANSFER_STALE):
        services.transfer_accept(actor=personas.dana, transfer=transfer, now=NOW)


# --- changes that wait for a second person ----------------------------------------------


@pytest.fixture
def held(personas, path) -> ChangeRequest:
    saved = update(personas.pat, path, risk_tier="low")
    assert saved.held_change is not None and saved.held_change.approver == "lead"
    return saved.held_change


def test_a_held_change_is_decided_by_a_lead(personas, held):
    with refused(NotAllowed, errors.CHANGE_NEEDS_APPROVER):
        services.change_request_decide(actor=personas.dana, request=held, approve=True, now=NOW)


def test_one_held_change_at_a_time(personas, path, held):
    with refused(InvalidTransition, errors.CHANGE_ALREADY_PENDING):
        update(personas.pat, path, risk_tier="medium")


def test_a_decided_change_is_not_decided_again(personas, held):
    services.change_request_decide(actor=personas.lee, request=held, approve=True, now=NOW)
    with refused(InvalidTransition, errors.CHANGE_NOT_PENDING.format(status="approved")):
        services.change_request_decide(
            actor=personas.lee, request=held, approve=False, reason="Changed my mind.", now=NOW
        )


# --- saved filters, audit values --------------------------------------------------------


def test_a_saved_filter_is_removed_once(personas):
    saved = services.saved_filter_create(
        actor=personas.pat, name="Overdue", query="status=overdue", now=NOW
    )
    services.saved_filter_archive(actor=personas.pat, saved=saved, now=NOW)
    with refused(InvalidTransition, errors.SAVED_FILTER_GONE):
        services.saved_filter_archive(actor=personas.pat, saved=saved, now=NOW)


def test_purging_a_value_the_event_does_not_have(personas, path):
    event = AuditEvent.objects.filter(action="access_path.registered", path=path).get()
    slots = ", ".join(name for name, _ in slot_values(event))
    message = errors.AUDIT_SLOT_UNKNOWN.format(slot="changes.nothing", slots=slots)
    with refused(Invalid, message) as caught:
        services.audit_value_purge(
            actor=personas.sam,
            seq=event.seq,
            slot="changes.nothing",
            reason="A credential was pasted here.",
            now=NOW,
        )
    assert caught.value.field == "slot"
