"""Security events for what was refused (docs/SECURITY-EVENTS.md): bearer tokens that do
not work, and requests refused on the API and on pages (403/409), each in the hash chain
with who, what, which object and why, never the token."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.authentication import MALFORMED_HEADER
from api.permissions import MISSING_SCOPE
from registry import services
from registry.audit import verify_chain
from registry.models import AccessPath, ApiToken, AuditEvent
from registry.rules import errors, token_format
from registry.runtime.current_request import MIDDLEWARE_PATH
from registry.services import security
from registry.services.tokens import token_create, token_revoke
from tests.conftest import JUSTIFICATION
from tests.support_security import (
    ADDRESS,
    GITHUB_TOKEN,
    TRANSFER_REASON,
    change_user,
    events,
    everything_stored,
    fact,
    only_event,
    stored_text,
)

pytestmark = pytest.mark.django_db


# --- API tokens ---------------------------------------------------------------------------


def issue(personas, *, scopes=("read", "write"), now=None, days=30) -> tuple[ApiToken, str]:
    return token_create(
        actor=personas.system,
        team=personas.teams.payments,
        name="ci",
        scopes=list(scopes),
        expires_in_days=days,
        now=now or timezone.now(),
    )


def bearer(value: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def assert_token_denied(response, *, presented: str, why: str, token: ApiToken | None):
    assert response.status_code == 401
    event = only_event(security.TOKEN_DENIED)
    assert fact(event, "token") == presented
    assert fact(event, "why") == why
    assert fact(event, "source_address") == ADDRESS
    assert fact(event, "operation") == f"GET {reverse('me')}"
    assert event.reason == security.TOKEN_DENIAL_REASONS[why]
    if token is None:
        assert (event.object_type, event.object_id) == ("apitoken", "")
        assert event.actor_label == security.ANONYMOUS
        assert event.path_id is None
    else:
        assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
        assert event.path_id == token.access_path_id  # on the token's path's timeline
        assert event.actor_type == AuditEvent.ActorType.TOKEN
    assert verify_chain().intact
    return event


def bad_checksum() -> str:
    value = token_format.generate()
    return value[:-1] + ("0" if value[-1] != "0" else "1")


@pytest.mark.parametrize(
    "value",
    ["nhir_not-a-token", bad_checksum(), GITHUB_TOKEN],
    ids=["shape", "checksum", "someone-elses-secret"],
)
def test_a_malformed_token_is_recorded_as_malformed(personas, value):
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented="malformed", why="malformed", token=None)
    assert value not in everything_stored()


def test_a_malformed_authorization_header(personas):
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    response = client.get(reverse("me"))
    assert response.json()["detail"] == MALFORMED_HEADER
    assert_token_denied(response, presented="malformed", why="malformed", token=None)


def test_an_unknown_token_shows_only_its_prefix(personas):
    value = token_format.generate()
    response = bearer(value).get(reverse("me"))
    event = assert_token_denied(
        response, presented=token_format.display_prefix(value), why="unknown", token=None
    )
    assert value not in stored_text(event)


def test_a_revoked_token(personas):
    token, value = issue(personas)
    token_revoke(actor=personas.system, token=token, reason="Leaked in a build log.")
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="revoked", token=token)
    assert value not in everything_stored()


def test_an_expired_token(personas):
    token, value = issue(personas, now=timezone.now() - dt.timedelta(days=40), days=30)
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="expired", token=token)


def test_a_token_whose_path_was_revoked(personas):
    token, value = issue(personas)
    services.path_revoke(actor=personas.sam, path=token.access_path, reason="Retired the CI.")
    response = bearer(value).get(reverse("me"))
    assert_token_denied(response, presented=token.prefix, why="path_not_live", token=token)


def test_a_token_without_the_scope(personas):
    token, value = issue(personas, scopes=("read",))
    client = bearer(value)
    assert client.get(reverse("me")).status_code == 200
    assert not events(security.TOKEN_DENIED)
    response = client.post(reverse("access-path-list"), {}, format="json")
    assert response.status_code == 403
    event = only_event(security.TOKEN_DENIED)
    assert fact(event, "why") == security.MISSING_SCOPE
    assert fact(event, "token") == token.prefix
    assert fact(event, "operation") == f"POST {reverse('access-path-list')}"
    assert event.reason == MISSING_SCOPE.format(scope="write")
    assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
    assert not events(security.REQUEST_REFUSED)  # one refusal, one event
    assert value not in everything_stored()
    assert verify_chain().intact


def test_a_working_token_records_no_denial(personas):
    _token, value = issue(personas)
    assert bearer(value).get(reverse("me")).status_code == 200
    assert not events(security.TOKEN_DENIED)


def test_token_creation_is_audited_by_the_token_service(personas):
    token, value = issue(personas)
    event = only_event("api_token.created")
    assert event.object_id == str(token.pk)
    assert event.changes["prefix"] == [None, token.prefix]
    assert value not in everything_stored()


# --- refused requests: the API ----------------------------------------------------------


@pytest.fixture
def own(make_path):
    return make_path(name="own-export", now=timezone.now())


def session(user) -> APIClient:
    client = APIClient(REMOTE_ADDR=ADDRESS)
    client.force_authenticate(user)  # no sign-in event: only the refusal is looked at
    return client


def test_a_member_doing_what_only_leads_may_is_recorded(personas, own):
    url = reverse("access-path-transfer", args=[own.pk])
    response = session(personas.users.pat).post(
        url, {"to_team": "data", "reason": TRANSFER_REASON}, format="json"
    )
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert event.reason == errors.NOT_A_LEAD
    assert (event.object_type, event.object_id) == ("accesspath", str(own.pk))
    assert event.path_id == own.pk
    assert event.changes == {
        "operation": [None, "access-path-transfer"],
        "request": [None, f"POST {url}"],
        "status": [None, 403],
        "source_address": [None, ADDRESS],
        "target": [None, f"accesspath:{own.pk}"],
    }
    # The refused change itself left nothing behind.
    assert not events("transfer.requested")
    assert verify_chain().intact


def test_an_illegal_transition_is_recorded(personas, own):
    url = reverse("access-path-claim", args=[own.pk])
    body = {"team": "payments", "reason": "Our billing export job runs under this account."}
    response = session(personas.users.pat).post(url, body, format="json")
    assert response.status_code == 409
    event = only_event(security.REQUEST_REFUSED)
    assert event.reason == errors.PATH_NOT_CLAIMABLE.format(state="active")
    assert fact(event, "status") == 409
    assert event.path_id == own.pk
    assert verify_chain().intact


def test_a_refusal_on_a_claim_names_the_claim_and_its_path(personas, unowned_path):
    claim = services.path_claim(
        actor=personas.pat,
        path=unowned_path,
        team=personas.teams.payments,
        reason="Our billing export job runs under this account every night.",
    )
    response = session(personas.users.pat).post(
        reverse("claim-approve", args=[claim.pk]), {"reason": "Looks right."}, format="json"
    )
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("claim", str(claim.pk))
    assert event.path_id == unowned_path.pk


def test_a_refused_create_is_about_the_caller(personas):
    body = {
        "name": "ledger-reader",
        "kind": AccessPath.Kind.SERVICE_ACCOUNT,
        "system": "aws",
        "external_id": "ledger-reader",
        "environment": AccessPath.Environment.PROD,
        "justification": JUSTIFICATION,
        "ticket_url": "https://tickets.example.com/browse/SEC-1",
        "risk_tier": AccessPath.RiskTier.HIGH,
        "owner_team": "data",
    }
    response = session(personas.users.pat).post(reverse("access-path-list"), body, format="json")
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("user", str(personas.users.pat.pk))
    assert fact(event, "target") == "accesspath"
    assert event.path_id is None


def test_a_refusal_of_an_integration_token_names_the_token(personas, own):
    token, value = issue(personas)
    url = reverse("access-path-revoke", args=[own.pk])
    response = bearer(value).post(url, {"reason": "Retired."}, format="json")
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_type == AuditEvent.ActorType.TOKEN
    assert event.actor_label == f"token {token.name} (payments)"
    assert event.reason == errors.HUMAN_REQUIRED
    assert (event.object_type, event.object_id) == ("accesspath", str(own.pk))


def test_a_session_write_failing_csrf_is_recorded_for_its_person(personas, own):
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR=ADDRESS)
    client.force_login(personas.users.pat)
    response = client.patch(reverse("access-path-detail", args=[own.pk]), {"name": "x"})
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert "CSRF" in event.reason
    # Authentication failed, so the caller's view of the path is unknown: not linked.
    assert event.path_id is None
    assert fact(event, "target") == f"accesspath:{own.pk}"


@pytest.mark.parametrize(
    ("who", "status"), [("pat", 400), ("dana", 404), (None, 401)], ids=["400", "404", "401"]
)
def test_invalid_input_unknown_objects_and_no_credentials_are_not_recorded(
    personas, own, who, status
):
    client = session(getattr(personas.users, who)) if who else APIClient()
    url = reverse("access-path-transfer", args=[own.pk])
    response = client.post(url, {"to_team": "data"}, format="json")  # no reason: 400
    assert response.status_code == status
    assert not AuditEvent.objects.filter(action__in=security.SECURITY_ACTIONS).exclude(
        action__in=[security.USER_CREATED]
    )


def test_a_stale_version_is_not_recorded(personas, own):
    url = reverse("access-path-detail", args=[own.pk])
    response = session(personas.users.lee).patch(
        url, {"consumers": "cron"}, format="json", HTTP_IF_MATCH='W/"99"'
    )
    assert response.status_code == 412
    assert not events(security.REQUEST_REFUSED)


# --- refused requests: the pages ----------------------------------------------------------


def test_a_refused_page_action_is_recorded(personas, own):
    client = Client(REMOTE_ADDR=ADDRESS)
    client.force_login(personas.users.pat)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": TRANSFER_REASON}
    response = client.post(url, data)
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert event.actor_user == personas.users.pat
    assert event.reason == errors.NOT_A_LEAD
    assert event.path_id == own.pk
    assert fact(event, "operation") == "registry:path-transfer"
    assert fact(event, "request") == f"POST {url}"
    assert fact(event, "status") == 403
    assert fact(event, "source_address") == ADDRESS
    assert not events("transfer.requested")
    assert verify_chain().intact


def test_an_illegal_transition_on_a_page_is_recorded(personas, own):
    services.path_revoke(actor=personas.lee, path=own, reason="The export job was retired.")
    client = Client()
    client.force_login(personas.users.lee)
    url = reverse("registry:path-revoke", args=[own.pk])
    own.refresh_from_db()
    response = client.post(url, {"version": own.version, "reason": "Again, to be sure."})
    assert response.status_code == 409
    event = only_event(security.REQUEST_REFUSED)
    assert event.reason == errors.PATH_NOT_LIVE.format(state="revoked")
    assert fact(event, "status") == 409


def test_a_refused_token_revoke_on_a_team_page_names_the_token(personas):
    token, _value = issue(personas)
    client = Client()
    client.force_login(personas.users.pat)  # a member of payments, not its lead
    url = reverse("registry:token-revoke", args=["payments", token.pk])
    response = client.post(url, {"reason": "Not ours to keep."})
    assert response.status_code == 403
    event = only_event(security.REQUEST_REFUSED)
    assert (event.object_type, event.object_id) == ("apitoken", str(token.pk))
    assert event.path_id == token.access_path_id


def test_a_page_form_error_is_not_recorded(personas, own):
    client = Client()
    client.force_login(personas.users.lee)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": ""}
    assert client.post(url, data).status_code == 400
    assert not events(security.REQUEST_REFUSED)


def test_without_the_middleware_pages_record_no_refusal(personas, own, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    client = Client()
    client.force_login(personas.users.pat)
    url = reverse("registry:path-transfer", args=[own.pk])
    data = {"version": own.version, "to_team": "data", "reason": TRANSFER_REASON}
    assert client.post(url, data).status_code == 403
    assert not events(security.REQUEST_REFUSED)


def test_the_missing_middleware_is_a_start_up_warning(settings):
    from registry.runtime.current_request import check_middleware

    assert check_middleware() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    (warning,) = check_middleware()
    assert warning.id == "registry.W001"


# --- all of it ----------------------------------------------------------------------------


def test_security_events_are_in_the_chain_with_the_rest(admin_client, personas, own):
    Client().post(reverse("login"), {"username": "pat", "password": "nope"})
    change_user(admin_client, personas.users.pat, is_staff=True)
    bearer(token_format.generate()).get(reverse("me"))
    session(personas.users.pat).post(
        reverse("access-path-transfer", args=[own.pk]),
        {"to_team": "data", "reason": TRANSFER_REASON},
        format="json",
    )
    services.path_update(actor=personas.lee, path=own, changes={"consumers": "cron"})
    report = verify_chain()
    assert report.intact
    assert report.checked == AuditEvent.objects.count()
    recorded = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        security.LOGIN,
        security.LOGIN_FAILED,
        security.USER_CHANGED,
        security.TOKEN_DENIED,
        security.REQUEST_REFUSED,
        "access_path.updated",
    } <= recorded
