"""API tokens at the API: the format, only a hash stored, never logged nor shown again,
scopes, expiry and revocation, team and personal tokens; and the create_api_token
command. What token_create itself refuses is tests/services/test_tokens.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.permissions import MISSING_SCOPE
from registry import services
from registry.models import AccessPath, ApiToken, AuditEvent
from registry.rules import errors, token_format
from registry.services.tokens import REGISTRY_SYSTEM, token_revoke
from tests.api.helpers import (
    CLAIM_REASON,
    DAY,
    KEEP,
    SECOND,
    assert_error,
    bearer,
    claim_url,
    issue,
    unchanged,
    url,
)
from tests.conftest import path_data

pytestmark = pytest.mark.django_db

# --- API tokens -----------------------------------------------------------------------


def test_token_format_is_recognisable_and_checksummed(personas):
    token, secret = issue(personas)
    assert secret.startswith("nhir_") and len(secret) == 41
    assert token_format.is_well_formed(secret)
    assert token.prefix == secret[: token_format.DISPLAY_PREFIX_LENGTH]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert not token_format.is_well_formed(flipped)
    assert bearer(secret).get(reverse("me")).status_code == 200
    assert_error(bearer(flipped).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_only_a_hash_of_the_token_is_stored(personas, own):
    token, secret = issue(personas)
    personal, personal_secret = issue(personas, user=personas.users.pat)
    bearer(secret).patch(url(own), {"name": "renamed"}, format="json")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert personal.token_hash == hashlib.sha256(personal_secret.encode()).hexdigest()
    for raw in (secret, personal_secret):
        unseen = raw[token_format.DISPLAY_PREFIX_LENGTH :]  # past the prefix shown in lists
        for model in apps.get_models():
            for row in model.objects.values_list():
                assert raw not in str(row) and unseen not in str(row), model.__name__
    for event in AuditEvent.objects.all():
        assert secret not in str(event.changes) and secret not in event.reason


def test_tokens_never_reach_the_logs(personas, own, caplog):
    caplog.set_level(logging.DEBUG)
    _, secret = issue(personas, scopes=["read"])
    client = bearer(secret)
    client.get(reverse("me"))
    client.patch(url(own), {"name": "x"}, format="json")  # 403, logged as a warning
    bearer(secret[:-1] + "0").get(reverse("me"))  # 401, logged as a warning
    assert caplog.records
    assert secret[: token_format.DISPLAY_PREFIX_LENGTH + 4] not in caplog.text


def test_the_token_is_never_shown_again(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    for response in (client.get(reverse("me")), client.get(url(token.access_path))):
        assert response.status_code == 200
        assert secret not in response.content.decode()


def test_a_read_only_token_reads_but_cannot_write(personas, own, unowned):
    client = bearer(issue(personas, scopes=["read"])[1])
    assert client.get(url(own)).status_code == 200
    refusal = MISSING_SCOPE.format(scope="write")
    with unchanged():
        assert_error(client.patch(url(own), {"name": "x"}, format="json"), 403, refusal)
        assert_error(client.post(url(), path_data(), format="json"), 403, refusal)
        body = {"team": "payments", "reason": CLAIM_REASON}
        assert_error(client.post(url(unowned, "claim"), body, format="json"), 403, refusal)


def test_last_used_at_is_recorded(personas):
    token, secret = issue(personas)
    assert token.last_used_at is None
    before = timezone.now()
    assert bearer(secret).get(reverse("me")).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before


def test_a_revoked_token_is_refused(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    token_revoke(actor=personas.system, token=token, reason="Rotated.")
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)
    assert AccessPath.objects.get(pk=token.access_path_id).state == AccessPath.State.REVOKED


def test_an_expired_token_is_refused(personas, now):
    token, secret = issue(personas, now=now - 100 * DAY, expires_in_days=30)
    assert token.expires_at < now
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_an_expired_token_stops_at_its_expiry(personas, now):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(created_at=now - DAY, expires_at=now - SECOND)
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_each_token_is_registered_as_an_access_path(personas, lee):
    token, _ = issue(personas)
    path = lee.get(url(token.access_path)).json()
    assert (path["kind"], path["system"], path["owner_team"]) == (
        "api_token",
        REGISTRY_SYSTEM,
        "payments",
    )
    assert path["external_id"] == token.prefix
    assert path["expires_at"] == token.expires_at.isoformat().replace("+00:00", "Z")
    personal, _ = issue(personas, user=personas.users.dana)
    assert personal.access_path.owner_team == personas.teams.data


def test_revoking_the_tokens_path_disables_the_token(personas, lee):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    response = lee.post(
        url(token.access_path, "revoke"), {"reason": "Leaked in a log."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_a_token_of_an_offboarded_team_is_refused(personas):
    _, secret = issue(personas)
    services.team_deactivate(actor=personas.system, team=personas.teams.payments, reason="Gone.")
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_last_used_at_is_written_at_most_once_a_minute(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    client.get(reverse("me"))
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    client.get(reverse("me"))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_a_token_whose_path_has_expired_is_refused(personas, now):
    token, secret = issue(personas)
    # The owners shortened the path's expiry, and that moment has now passed.
    AccessPath.objects.filter(pk=token.access_path_id).update(
        expires_at=now - dt.timedelta(minutes=1)
    )
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_a_team_token_registers_updates_and_claims_for_its_team(ci, unowned, pipeline_body):
    created = ci.post(url(action="register"), pipeline_body, format="json")
    assert created.status_code == 201
    path = AccessPath.objects.get(pk=created.json()["id"])
    assert ci.patch(url(path), {"consumers": "deploy job"}, format="json").status_code == 200
    claim = ci.post(
        url(unowned, "claim"), {"team": "payments", "reason": CLAIM_REASON}, format="json"
    )
    assert claim.status_code == 201
    assert claim.json()["requested_by"] == "token ci-2 (payments)"


def test_a_team_token_never_attests_nor_decides(personas, ci, own, unowned):
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    with unchanged():
        assert_error(ci.post(url(own, "attest"), KEEP, format="json"), 403, errors.HUMAN_REQUIRED)
        assert_error(
            ci.post(claim_url(claim, "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )
        assert_error(
            ci.post(url(unowned, "claim"), {"team": "data", "reason": CLAIM_REASON}, format="json"),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_a_security_teams_token_sees_everything_but_cannot_approve(personas, other, unowned):
    client = bearer(issue(personas, team="security")[1])
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    assert client.get(url(other)).status_code == 200
    with unchanged():
        assert_error(
            client.post(claim_url(claim, "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )


def test_a_personal_token_acts_as_its_person(personas, own):
    _, secret = issue(personas, user=personas.users.pat)
    client = bearer(secret)
    me = client.get(reverse("me")).json()
    assert (me["kind"], me["username"]) == ("token", "pat")
    response = client.post(url(own, "attest"), KEEP, format="json")
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.latest("seq")
    assert event.actor_user == personas.users.pat and event.actor_type == "token"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer nhir_short", "Bearer " + "nhir_" + "x" * 36, "Token abc"],
)
def test_malformed_credentials_are_401(personas, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(reverse("me"))
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_session_write_without_a_csrf_token_is_refused(personas, own):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas.users.pat)
    assert client.get(url(own)).status_code == 200
    with unchanged():
        response = client.patch(url(own), {"name": "x"}, format="json")
        assert_error(response, 403)
        assert "CSRF" in response.json()["detail"]


# --- manage.py create_api_token -------------------------------------------------------


def run_create_api_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_token_prints_the_token_alone_on_its_last_line(personas):
    out, err = run_create_api_token(
        "--team",
        "payments",
        "--name",
        "deployer",
        "--scopes",
        "read,write",
        "--expires-in-days",
        "30",
    )
    secret = out.strip().splitlines()[-1]
    assert token_format.is_well_formed(secret) and secret == out.strip()
    assert secret not in err
    token = ApiToken.objects.get(token_hash=token_format.hash_token(secret))
    assert (token.team, token.scopes, token.name) == (
        personas.teams.payments,
        ["read", "write"],
        "deployer",
    )
    assert token.expires_at - token.created_at == 30 * DAY
    me = bearer(secret).get(reverse("me")).json()
    assert me["token"]["team"] == "payments"


def test_create_api_token_for_a_user(personas):
    out, _ = run_create_api_token("--user", "dana", "--name", "laptop", "--scopes", "read")
    secret = out.strip().splitlines()[-1]
    me = bearer(secret).get(reverse("me")).json()
    assert (me["username"], me["token"]["scopes"]) == ("dana", ["read"])


@pytest.mark.parametrize(
    "args",
    [
        ("--team", "nope", "--name", "x"),
        ("--user", "nobody", "--name", "x"),
        ("--team", "payments", "--name", "x", "--expires-in-days", "366"),
        ("--team", "payments", "--name", "x", "--scopes", "admin"),
        ("--team", "payments", "--name", " "),
    ],
)
def test_create_api_token_refusals(personas, args):
    with unchanged(), pytest.raises(CommandError):
        run_create_api_token(*args)
    assert not ApiToken.objects.exists()
