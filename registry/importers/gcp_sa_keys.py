"""Google Cloud service account keys: `gcloud iam service-accounts keys list
--iam-account=SA --format=json` (a JSON list of ServiceAccountKey resources), or the
REST API's `{"keys": [...]}` response. Several service accounts' lists may be merged
into one list.

One row per user-managed key: a downloadable key is a static credential of the service
account, so it is the access path.

- `system` "gcp" (or the `system` argument); `external_id` the key's full resource
  `name` (`projects/P/serviceAccounts/EMAIL/keys/KEY_ID`, unique across projects);
  `name` "EMAIL (key first-8-of-KEY_ID)"; `kind` service_account; `environment` other;
  `created_via` discovery.
- `keyType` SYSTEM_MANAGED keys are skipped entirely: Google holds and rotates them,
  nobody can leak or forget one. Any other value than USER_MANAGED is a row error.
- `validAfterTime` (when the key was created) is `last_rotated_at`; `validBeforeTime` is
  `expires_at`, except Google's "no expiry" value 9999-12-31T23:59:59Z, which sets none.
  The value is kept even when it is past: the import service decides what that means.
- `credential_lifetime`: static when the key never expires, long_lived when an expiry
  is set (an organisation policy such as iam.serviceAccountKeyExpiryHours).
- `disabled`: true (the API omits the field when it is false).
- hints: `project` and `service_account` (the email), from `name`.
- No last-use time, creator or privileges are in this format.
- A file that is not JSON, or not a list (or `{"keys": [...]}`), gives one error row
  with line 0 (the file as a whole). Lines are 1-based positions in the list.
  Secret-shaped values never reach `data` or `hints`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, load_json, read_time, without_secrets

DEFAULT_SYSTEM = "gcp"
NO_EXPIRY = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
_KEY_NAME = re.compile(r"^projects/([^/]+)/serviceAccounts/([^/]+)/keys/([^/]+)$")


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    system_name = system or DEFAULT_SYSTEM
    items, error = _load(source)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield ImportRow(line=line, errors=["Not a JSON object."])
            continue
        if item.get("keyType") == "SYSTEM_MANAGED":
            continue
        yield without_secrets(_row(line, item, system_name))


def _load(source: BinaryIO) -> tuple[list[Any], str | None]:
    document, error = load_json(source)
    if error:
        return [], error
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        return document["keys"], None
    if isinstance(document, list):
        return document, None
    return [], (
        "Expected a JSON list of service account keys "
        "(gcloud iam service-accounts keys list --format=json)."
    )


def _row(line: int, item: dict[str, Any], system_name: str) -> ImportRow:
    errors: list[str] = []
    data: dict[str, Any] = {"system": system_name}
    hints: dict[str, str] = {}

    key_name = item.get("name")
    match = _KEY_NAME.match(key_name) if isinstance(key_name, str) else None
    if match is None:
        errors.append(
            f"name: expected projects/P/serviceAccounts/EMAIL/keys/KEY_ID, got {key_name!r}."
        )
    else:
        project, email, key_id = match.groups()
        data["external_id"] = key_name
        data["name"] = f"{email} (key {key_id[:8]})"
        hints = {"project": project, "service_account": email}

    key_type = item.get("keyType")
    if key_type != "USER_MANAGED":
        errors.append(f"keyType: expected USER_MANAGED or SYSTEM_MANAGED, got {key_type!r}.")

    def timestamp(field_name: str) -> dt.datetime | None:
        return read_time(item.get(field_name), field_name, errors)

    created = timestamp("validAfterTime")
    expires = timestamp("validBeforeTime")
    if expires is not None and expires >= NO_EXPIRY:
        expires = None
    disabled = item.get("disabled", False)
    if not isinstance(disabled, bool):
        errors.append(f"disabled: expected true or false, got {disabled!r}.")
        disabled = False

    data.update(
        kind="service_account",
        environment="other",
        created_via="discovery",
        credential_lifetime="static" if expires is None else "long_lived",
    )
    if created is not None:
        data["last_rotated_at"] = created
    if expires is not None:
        data["expires_at"] = expires
    # The key id is a leaked key file's `private_key_id`; the email its `client_email`.
    identifiers = [("key_id", key_id), ("principal", email)] if match is not None else []
    return ImportRow(
        line=line,
        data=data,
        disabled=disabled,
        hints=hints,
        identifiers=identifiers,
        errors=errors,
    )
