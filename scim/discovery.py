"""The discovery documents (RFC 7643 5-7): what this server supports, and the schemas
of exactly the attributes it keeps (clients such as scim2-tester build their models
from them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from scim.resources import GROUP_SCHEMA, USER_SCHEMA, base_url

SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _attr(name: str, kind: str = "string", **options: Any) -> dict:
    attribute = {
        "name": name,
        "type": kind,
        "multiValued": False,
        "description": options.pop("description", name),
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    attribute.update(options)
    if kind == "reference":
        attribute.setdefault("referenceTypes", ["User", "Group"])
    return attribute


USER_ATTRIBUTES = [
    _attr("userName", required=True, uniqueness="server", description="Unique sign-in name."),
    _attr(
        "name",
        "complex",
        subAttributes=[_attr("givenName"), _attr("familyName")],
        description="The person's name.",
    ),
    _attr(
        "emails",
        "complex",
        multiValued=True,
        description="One address is kept: the primary one (else a work one, else the "
        "first); type and primary are accepted and not kept.",
        subAttributes=[_attr("value")],
    ),
    _attr(
        "active",
        "boolean",
        required=True,
        description="false deprovisions: every membership ends. Absent on create: true.",
    ),
    _attr(
        "groups",
        "complex",
        multiValued=True,
        mutability="readOnly",
        description="The teams the person is a current member of.",
        subAttributes=[
            _attr("value", mutability="readOnly"),
            _attr("$ref", "reference", mutability="readOnly", referenceTypes=["Group"]),
            _attr("display", mutability="readOnly"),
            _attr("type", mutability="readOnly", canonicalValues=["direct"]),
        ],
    ),
]
GROUP_ATTRIBUTES = [
    _attr("displayName", required=True, uniqueness="server", description="The team's name."),
    _attr(
        "members",
        "complex",
        multiValued=True,
        description="The team's current members (users).",
        subAttributes=[
            _attr("value", mutability="immutable"),
            _attr("$ref", "reference", mutability="immutable", referenceTypes=["User"]),
            _attr("type", mutability="immutable", canonicalValues=["User"]),
        ],
    ),
]


def _schema(urn: str, name: str, description: str, attributes: list[dict]) -> dict:
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base_url()}/Schemas/{urn}"},
    }


def schemas() -> list[dict]:
    return [
        _schema(USER_SCHEMA, "User", "A person (a registry user).", USER_ATTRIBUTES),
        _schema(GROUP_SCHEMA, "Group", "A team.", GROUP_ATTRIBUTES),
    ]


def resource_types() -> list[dict]:
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": name,
            "name": name,
            "endpoint": f"/{name}s",
            "description": description,
            "schema": urn,
            "schemaExtensions": [],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url()}/ResourceTypes/{name}",
            },
        }
        for name, urn, description in (
            ("User", USER_SCHEMA, "People"),
            ("Group", GROUP_SCHEMA, "Teams"),
        )
    ]


def service_provider_config() -> dict:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": f"{settings.BASE_URL}/static/docs/scim.md",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": settings.NHI_SCIM_MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token issued with `manage.py create_scim_token`.",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url()}/ServiceProviderConfig",
        },
    }
