"""Who reaches SCIM: nobody while it is off; only a live SCIM token when on (not an API
token, not a session, not a revoked or expired one). Refusals are SCIM errors and are
audited without the token. The discovery documents."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.models import AccessPath, AuditEvent
from registry.services.scim import scim_token_create, scim_token_revoke
from registry.services.tokens import token_create
from tests.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db
URLS = ["ServiceProviderConfig", "Schemas", "ResourceTypes", "Users", "Groups", "Users/1"]


@pytest.mark.parametrize("url", URLS)
def test_off_by_default(settings, personas, url):
    settings.NHI_SCIM_ENABLED = False
    _, secret = scim_token_create(actor=personas.system, name="x", team=personas.teams.security)
    assert ScimClient(secret).get(url).status_code == 404


@pytest.mark.parametrize("url", URLS)
def test_refused_without_a_scim_token(scim_on, personas, client, url):
    assert client.get(f"/scim/v2/{url}").status_code == 401
    client.force_login(personas.users.sam)  # a session is not a SCIM client
    answer = client.get(f"/scim/v2/{url}")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_an_api_token_is_not_a_scim_token(scim_on, personas):
    _, secret = token_create(
        actor=personas.system, name="ci", scopes=["read", "write"], team=personas.teams.security
    )
    assert ScimClient(secret).get("Users").status_code == 401
    denied = AuditEvent.objects.filter(action="api_token.denied").last()
    assert secret not in str(denied.changes) and secret[:13] in str(denied.changes)


def test_a_scim_token_is_not_an_api_token(scim_token, client):
    answer = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {scim_token[1]}"})
    assert answer.status_code == 401


def test_revoked_token_stops_and_its_path_is_revoked(scim, scim_token, personas):
    token, _ = scim_token
    assert scim.get("Users").status_code == 200
    scim_token_revoke(actor=personas.sam, token=token, reason="Rotated (SEC-9).")
    assert scim.get("Users").status_code == 401
    token.access_path.refresh_from_db()
    assert token.access_path.state == AccessPath.State.REVOKED


def test_only_security_issues_scim_tokens(scim_on, personas):
    from registry.rules.errors import NotAllowed

    with pytest.raises(NotAllowed):
        scim_token_create(actor=personas.lee, name="x", team=personas.teams.payments)
    token, secret = scim_token_create(actor=personas.sam, name="okta", team=personas.teams.security)
    path = token.access_path
    assert (path.owner_team, path.risk_tier, path.system) == (
        personas.teams.security,
        "critical",
        "nhi-registry",
    )
    assert token.token_hash != secret and secret not in str(list(AuditEvent.objects.values()))


def test_expired_token(scim_on, personas):
    past = timezone.now() - dt.timedelta(days=2)
    _, secret = scim_token_create(
        actor=personas.system, name="old", team=personas.teams.security, expires_in_days=1, now=past
    )
    assert ScimClient(secret).get("Users").status_code == 401


def test_discovery(scim):
    spc = scim.get("ServiceProviderConfig").json()
    assert spc["patch"]["supported"] and spc["filter"]["supported"] and spc["etag"]["supported"]
    assert not spc["bulk"]["supported"]
    types = scim.get("ResourceTypes").json()["Resources"]
    assert [t["endpoint"] for t in types] == ["/Users", "/Groups"]
    user_schema = scim.get("Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    names = [a["name"] for a in user_schema["attributes"]]
    assert names == ["userName", "name", "emails", "active", "groups"]
    assert scim.get("Schemas/urn:nope").status_code == 404
    assert scim.post("ServiceProviderConfig", {}).status_code == 405
    assert scim.get("Nope").status_code == 404
