"""SCIM fixtures: SCIM switched on, a token issued by the system for security, and a
client that presents it."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from registry.selectors.paths import path_get
from registry.services.scim import scim_token_create

MEDIA = "application/scim+json"


class ScimClient:
    def __init__(self, token: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def _send(self, method: str, url: str, body=None, **headers):
        data = json.dumps(body) if body is not None else ""
        call = getattr(self.client, method)
        return call(f"/scim/v2/{url}", data=data, content_type=MEDIA, headers=headers)

    def get(self, url: str, **headers):
        return self.client.get(f"/scim/v2/{url}", headers=headers)

    def post(self, url: str, body, **headers):
        return self._send("post", url, body, **headers)

    def put(self, url: str, body, **headers):
        return self._send("put", url, body, **headers)

    def patch(self, url: str, operations: list, **headers):
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        }
        return self._send("patch", url, body, **headers)

    def delete(self, url: str, **headers):
        return self.client.delete(f"/scim/v2/{url}", headers=headers)


@pytest.fixture
def scim_on(settings):
    settings.NHI_SCIM_ENABLED = True
    settings.NHI_SCIM_GROUP_TEAMS = {}
    return settings


@pytest.fixture
def scim_token(personas, scim_on):
    token, secret = scim_token_create(
        actor=personas.system, name="entra-id", team=personas.teams.security
    )
    return token, secret


@pytest.fixture
def scim(scim_token) -> ScimClient:
    return ScimClient(scim_token[1])


def status_now(personas, path) -> str:
    return path_get(actor=personas.sam, path_id=path.pk, now=timezone.now()).status


def user_body(user_name: str, **extra) -> dict:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": f"{user_name.split('@')[0]}@example.com", "type": "work", "primary": True}
        ],
        "active": True,
    }
    body.update(extra)
    return body
