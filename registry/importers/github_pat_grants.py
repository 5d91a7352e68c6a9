"""GitHub fine-grained personal access tokens with access to an organisation:
`GET /orgs/{org}/personal-access-tokens` (a JSON list). The output of `gh api
--paginate` (one JSON list per page, written one after the other) and of `gh api
--paginate --slurp` (a list of those lists) is read as the one list they make.

One row per grant (a token's access to the organisation): that is what the
organisation can see and revoke.

- `system` "github" (or the `system` argument, e.g. "github/acme"); `external_id`
  "github-pat-grant:<id>" (the grant id, which the revoke endpoint takes as pat_id);
  `name` "<token_name> (<owner login>)", or "fine-grained PAT <id> (<login>)" when the
  API version does not return `token_name`; `kind` api_token; `environment` other;
  `created_via` discovery; `created_by_ref` the owner's login (a person creates their
  own PAT).
- `access_granted_at` is `last_rotated_at` (the nearest to an issue date the API gives);
  `token_last_used_at` is `last_used_at`; `token_expires_at` is `expires_at` (null:
  none), kept as-is even when past.
- `credential_lifetime`: static when `token_expires_at` is null (the token never
  expires), short_lived when it expires less than 8 days after `access_granted_at`,
  else long_lived.
- `disabled`: `token_expired` is true.
- `privilege_scope`: the repository selection then the permissions, e.g.
  "repositories: all; repository: contents:read, metadata:read; organization:
  members:read" (sections repository, organization, other, then any new ones; names
  sorted).
- hints: `owner` (login), `repository_selection`, and `token_id` when present.
- A listing of *requests* (`GET /orgs/{org}/personal-access-token-requests`: items with
  `reason` and `created_at`, no `access_granted_at`) is refused as a whole (one error
  row, line 0, naming the first such item): a pending request is not access, and
  importing it would register tokens the organisation never approved.
- A file that is not JSON, or not a list, gives one error row with line 0 (the file as
  a whole). Lines are 1-based positions in the list. Secret-shaped values (a token
  named after its own value, say) never reach `data` or `hints`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, read_time, without_secrets

DEFAULT_SYSTEM = "github"
SHORT_LIVED_UNDER = dt.timedelta(days=8)
SECTION_ORDER = ("repository", "organization", "other")
NOT_A_GRANTS_LIST = (
    "Expected a JSON list of fine-grained personal access token grants "
    "(GET /orgs/{org}/personal-access-tokens)."
)
REQUESTS_NOT_GRANTS = (
    "This is a list of pending fine-grained PAT requests, not grants: item {line} has "
    "{fields} (GET /orgs/{{org}}/personal-access-token-requests). A request is not access: "
    "nothing was imported. Export the grants with GET /orgs/{{org}}/personal-access-tokens."
)


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    system_name = system or DEFAULT_SYSTEM
    items, error = _load(source)
    if not error:
        error = _requests_error(items)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield ImportRow(line=line, errors=["Not a JSON object."])
            continue
        yield without_secrets(_row(line, item, system_name))


def _load(source: BinaryIO) -> tuple[list[Any], str | None]:
    try:
        text = source.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], f"The file is not UTF-8 text ({exc.reason})."
    documents: list[Any] = []
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    try:
        while position < len(text):
            document, position = decoder.raw_decode(text, position)
            documents.append(document)
            position = _skip_space(text, position)
    except json.JSONDecodeError as exc:
        return [], f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
    if not documents:
        return [], "Not valid JSON: the file is empty."
    if len(documents) == 1 and isinstance(documents[0], list):
        pages = documents[0]
        if pages and all(isinstance(page, list) for page in pages):
            documents = pages  # gh api --paginate --slurp: a list of pages
    if documents and all(isinstance(page, list) for page in documents):
        return [item for page in documents for item in page], None
    return [], NOT_A_GRANTS_LIST


def _requests_error(items: list[Any]) -> str | None:
    """Why the list is one of PAT requests rather than grants, or None: a request has a
    `reason` and a `created_at` where a grant has `access_granted_at`."""
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict) or "access_granted_at" in item:
            continue
        fields = [name for name in ("reason", "created_at") if name in item]
        if fields:
            shown = " and ".join(f"`{name}`" for name in fields)
            return REQUESTS_NOT_GRANTS.format(
                line=line, fields=f"{shown} but no `access_granted_at`"
            )
    return None


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _row(line: int, item: dict[str, Any], system_name: str) -> ImportRow:
    errors: list[str] = []
    data: dict[str, Any] = {"system": system_name}
    hints: dict[str, str] = {}

    grant_id = item.get("id")
    if isinstance(grant_id, int) and not isinstance(grant_id, bool):
        data["external_id"] = f"github-pat-grant:{grant_id}"
    else:
        errors.append(f"id: expected an integer, got {grant_id!r}.")
    owner = item.get("owner")
    login = owner.get("login") if isinstance(owner, dict) else None
    if isinstance(login, str) and login:
        hints["owner"] = login
        data["created_by_ref"] = login
    else:
        errors.append("owner.login: missing.")
    token_name = item.get("token_name")
    if isinstance(token_name, str) and token_name.strip():
        label = token_name.strip()
    else:
        label = f"fine-grained PAT {grant_id}"
    data["name"] = f"{label} ({login})" if "owner" in hints else label
    token_id = item.get("token_id")
    identifiers: list[tuple[str, str]] = []
    if isinstance(token_id, int) and not isinstance(token_id, bool):
        hints["token_id"] = str(token_id)
        # The token's own id (stable across regeneration of the grant), namespaced: a
        # bare number would collide with other systems' numeric key ids.
        identifiers.append(("key_id", f"github-pat:{token_id}"))
    if "external_id" in data:
        identifiers.append(("key_id", data["external_id"]))

    def timestamp(field_name: str) -> dt.datetime | None:
        return read_time(item.get(field_name), field_name, errors)

    granted = timestamp("access_granted_at")
    expires = timestamp("token_expires_at")
    last_used = timestamp("token_last_used_at")
    expired = item.get("token_expired", False)
    if not isinstance(expired, bool):
        errors.append(f"token_expired: expected true or false, got {expired!r}.")
        expired = False

    if expires is None:
        lifetime = "static"
    elif granted is not None and expires - granted < SHORT_LIVED_UNDER:
        lifetime = "short_lived"
    else:
        lifetime = "long_lived"
    data.update(
        kind="api_token",
        environment="other",
        created_via="discovery",
        credential_lifetime=lifetime,
    )
    if granted is not None:
        data["last_rotated_at"] = granted
    if last_used is not None:
        data["last_used_at"] = last_used
    if expires is not None:
        data["expires_at"] = expires

    selection = item.get("repository_selection")
    if isinstance(selection, str) and selection:
        hints["repository_selection"] = selection
    scope, scope_error = _privilege_scope(selection, item.get("permissions"))
    if scope_error:
        errors.append(scope_error)
    elif scope:
        data["privilege_scope"] = scope
    return ImportRow(
        line=line,
        data=data,
        disabled=expired,
        hints=hints,
        identifiers=identifiers,
        errors=errors,
    )


def _privilege_scope(selection: Any, permissions: Any) -> tuple[str, str | None]:
    parts = [f"repositories: {selection}"] if isinstance(selection, str) and selection else []
    if permissions is None:
        return "; ".join(parts), None
    if not isinstance(permissions, dict):
        return "", f"permissions: expected an object, got {permissions!r}."
    sections = [name for name in SECTION_ORDER if name in permissions]
    sections += sorted(name for name in permissions if name not in SECTION_ORDER)
    for section in sections:
        granted = permissions[section]
        if not isinstance(granted, dict):
            return "", f"permissions.{section}: expected an object, got {granted!r}."
        if granted:
            pairs = ", ".join(f"{name}:{level}" for name, level in sorted(granted.items()))
            parts.append(f"{section}: {pairs}")
    return "; ".join(parts), None
