"""SCIM representations of users and groups (RFC 7643 4.1, 4.2) and the reverse: a
request body read into the services' UserState / GroupState.

Attributes this registry does not keep (addresses, phone numbers, titles, enterprise
extension fields...) are ignored on input rather than refused, as Entra ID's and Okta's
default attribute mappings send several of them; /Schemas publishes only what is kept."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from registry.models import Team
from registry.rules.errors import Invalid
from registry.selectors.scim import as_id, group_display_name
from registry.services.scim import GroupState, UserState

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def base_url() -> str:
    return f"{settings.BASE_URL}/scim/v2"


def _stamp(when: Any) -> str:
    return when.isoformat().replace("+00:00", "Z")


def with_meta(body: dict, resource_type: str, created: Any, modified: Any) -> dict:
    """Add `meta`; its version (the ETag) is a digest of everything else, so any change
    to what a client sees changes it and nothing else does."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    body["meta"] = {
        "resourceType": resource_type,
        "created": _stamp(created),
        "lastModified": _stamp(modified),
        "location": f"{base_url()}/{resource_type}s/{body['id']}",
        "version": f'W/"{digest[:24]}"',
    }
    return body


def user_resource(user: User) -> dict:
    scim = getattr(user, "scim", None)
    body: dict[str, Any] = {"schemas": [USER_SCHEMA], "id": str(user.pk)}
    if scim is not None and scim.external_id:
        body["externalId"] = scim.external_id
    body["userName"] = user.get_username()
    name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
    if name:
        body["name"] = name
    if user.email:
        # One address is kept: its type and primary flag are not (the schema says so).
        body["emails"] = [{"value": user.email}]
    body["active"] = user.is_active
    memberships = getattr(user, "current_memberships", None)
    if memberships is None:
        memberships = list(user.memberships.filter(ended_at__isnull=True).select_related("team"))
    body["groups"] = [
        {
            "value": str(m.team_id),
            "$ref": f"{base_url()}/Groups/{m.team_id}",
            "display": group_display_name(m.team),
            "type": "direct",
        }
        for m in memberships
    ]
    if not body["groups"]:
        del body["groups"]
    modified = scim.updated_at if scim is not None else user.date_joined
    return with_meta(body, "User", user.date_joined, max(modified, user.date_joined))


def group_resource(team: Team, *, members: bool = True) -> dict:
    scim = getattr(team, "scim", None)
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": str(team.pk)}
    if scim is not None and scim.external_id:
        body["externalId"] = scim.external_id
    body["displayName"] = group_display_name(team)
    current = getattr(team, "current_memberships", None)
    if current is None:
        current = list(
            team.memberships.filter(ended_at__isnull=True)
            .select_related("user")
            .order_by("user_id")
        )
    if members and current:
        body["members"] = [
            {
                "value": str(m.user_id),
                "$ref": f"{base_url()}/Users/{m.user_id}",
                "type": "User",
            }
            for m in current
        ]
    modified = max(team.updated_at, scim.updated_at) if scim is not None else team.updated_at
    return with_meta(body, "Group", team.created_at, modified)


# --- input ----------------------------------------------------------------------------


def _lowered(data: dict) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in data.items()}


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid.single(field, "Expected a string.")
    return value


def as_bool(value: Any, field: str) -> bool:
    """Entra ID sends booleans as the strings "True" and "False" in PATCH values."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Invalid.single(field, "Expected true or false.")


def _primary_email(value: Any) -> str:
    if value in (None, []):
        return ""
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise Invalid.single("emails", "Expected a list of {value, type, primary}.")
    # The primary one, else a work one (Entra ID's `emails[type eq "work"].value`
    # adds one typed so), else the first.
    chosen = next((e for e in value if e.get("primary") in (True, "true", "True")), None)
    chosen = chosen or next((e for e in value if e.get("type") == "work"), None) or value[0]
    return _text(chosen.get("value"), "emails")


def user_state_from(data: Any) -> UserState:
    """A User body (POST or PUT, or a patched representation)."""
    if not isinstance(data, dict):
        raise Invalid.single("body", "Expected a JSON object.")
    fields = _lowered(data)
    name = fields.get("name") or {}
    if not isinstance(name, dict):
        raise Invalid.single("name", "Expected an object.")
    name = _lowered(name)
    return UserState(
        user_name=_text(fields.get("username"), "userName"),
        given_name=_text(name.get("givenname"), "name.givenName"),
        family_name=_text(name.get("familyname"), "name.familyName"),
        email=_primary_email(fields.get("emails")),
        active=as_bool(fields["active"], "active") if fields.get("active") is not None else True,
        external_id=_text(fields.get("externalid"), "externalId"),
    )


def member_ids(value: Any) -> frozenset[int]:
    if value in (None, []):
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise Invalid.single("members", "Expected a list of {value}.")
    ids = set()
    for member in value:
        raw = str(_lowered(member).get("value", ""))
        key = as_id(raw)
        if key is None:
            raise Invalid.single("members", f"No user with id {raw[:40]!r}.")
        ids.add(key)
    return frozenset(ids)


def group_state_from(data: Any) -> GroupState:
    if not isinstance(data, dict):
        raise Invalid.single("body", "Expected a JSON object.")
    fields = _lowered(data)
    return GroupState(
        display_name=_text(fields.get("displayname"), "displayName"),
        external_id=_text(fields.get("externalid"), "externalId"),
        member_ids=member_ids(fields.get("members")),
    )


# Never dropped by `attributes` / `excludedAttributes` (RFC 7644 3.9: returned always).
ALWAYS_RETURNED = frozenset({"schemas", "id", "meta"})


def project(body: dict, attributes: list[str], excluded: list[str]) -> dict:
    """The representation narrowed by the `attributes` or `excludedAttributes` query
    parameters (top-level names or `parent.sub`, case-insensitive, URNs stripped)."""
    wanted = [_bare(a) for a in attributes if a.strip()]
    dropped = [_bare(a) for a in excluded if a.strip()]
    if not wanted and not dropped:
        return body
    out = {}
    for key, value in body.items():
        lowered = key.lower()
        if lowered in ALWAYS_RETURNED:
            out[key] = value
        elif wanted:
            subs = [w.split(".", 1)[1] for w in wanted if w.startswith(lowered + ".")]
            if lowered in wanted:
                out[key] = value
            elif subs and isinstance(value, dict):
                out[key] = {k: v for k, v in value.items() if k.lower() in subs}
        elif lowered not in dropped:
            subs = [d.split(".", 1)[1] for d in dropped if d.startswith(lowered + ".")]
            if subs and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k.lower() not in subs}
            out[key] = value
    return out


def _bare(attribute: str) -> str:
    attribute = attribute.strip()
    if attribute.lower().startswith("urn:"):
        attribute = attribute.rsplit(":", 1)[-1]
    return attribute.lower()
