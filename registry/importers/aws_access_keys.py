"""AWS IAM access keys: `aws iam list-access-keys --user-name U --output json`
(`{"AccessKeyMetadata": [{"UserName", "AccessKeyId", "Status", "CreateDate"}]}`; several
users' answers may be merged into one list, or given as a list of such answers), or the
combined `{"Users": [{"UserName", "Arn", ..., "AccessKeys": [<AccessKeyMetadata>]}]}`
that a script builds from `list-users` and `list-access-keys` per user.

One row per IAM user, so the keys are findable by key id (`triage`):
- `system` "aws" (or the `system` argument); `external_id` the user's ARN when the file
  gives it (the same key as the credential report's), else `user/<UserName>`;
  `name` the user name; `kind` service_account; `environment` other;
  `created_via` discovery; `credential_lifetime` static.
- every `AccessKeyId` is a `key_id` identifier, the ARN a `principal` one. Inactive keys
  are recorded too (a leaked inactive key still needs its owner) and counted in the
  hint `inactive_keys`; a user whose keys are all inactive is `disabled` (retired, as the
  credential report does).
- `last_rotated_at` the newest key's `CreateDate`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, load_json, parse_time, without_secrets

DEFAULT_SYSTEM = "aws"
_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,124}$")
_USER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:user/(?:[^/]+/)*[^/]+$")
SHAPE = (
    'Expected {"AccessKeyMetadata": [...]} (aws iam list-access-keys), a list of those, '
    'or {"Users": [{"UserName", "Arn", "AccessKeys": [...]}]}.'
)


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    document, error = load_json(source)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    users, error = _users(document)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    for line, (user, arn, keys) in enumerate(users, start=1):
        yield without_secrets(_row(line, user, arn, keys, system or DEFAULT_SYSTEM))


def _users(document: Any) -> tuple[list[tuple[Any, Any, Any]], str | None]:
    """(user name, ARN or None, key records) per user, in the file's order (unchecked:
    _row says what is wrong with each)."""
    if isinstance(document, dict) and isinstance(document.get("Users"), list):
        found: list[tuple[Any, Any, Any]] = []
        for item in document["Users"]:
            if not isinstance(item, dict):
                found.append((None, None, [None]))
                continue
            keys = item.get("AccessKeys", item.get("AccessKeyMetadata", []))
            found.append((item.get("UserName"), item.get("Arn"), keys))
        return found, None
    answers = document if isinstance(document, list) else [document]
    by_user: dict[Any, list] = {}
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("AccessKeyMetadata"), list):
            return [], SHAPE
        for key in answer["AccessKeyMetadata"]:
            name = key.get("UserName") if isinstance(key, dict) else None
            by_user.setdefault(name, []).append(key)
    return [(name, None, keys) for name, keys in by_user.items()], None


def _row(line: int, user: Any, arn: Any, keys: Any, system_name: str) -> ImportRow:
    errors: list[str] = []
    data: dict[str, Any] = {"system": system_name}
    if not isinstance(user, str) or not user.strip():
        return ImportRow(line=line, data=data, errors=["UserName: missing."])
    user = user.strip()
    if arn is not None and (not isinstance(arn, str) or not _USER_ARN.match(arn)):
        errors.append(f"Arn: not an IAM user ARN: {arn!r}.")
        arn = None
    if not isinstance(keys, list):
        return ImportRow(line=line, data=data, errors=["AccessKeys: expected a list."])
    identifiers: list[tuple[str, str]] = [("principal", arn)] if arn else []
    active: list[str] = []
    inactive: list[str] = []
    created: list[dt.datetime] = []
    for key in keys:
        if not isinstance(key, dict):
            errors.append("AccessKeyMetadata: an item is not an object.")
            continue
        key_id = key.get("AccessKeyId")
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
            errors.append("AccessKeyId: not an AWS access key id.")
            continue
        status = key.get("Status")
        if status not in ("Active", "Inactive"):
            errors.append(f"Status: expected Active or Inactive, got {status!r}.")
            continue
        (active if status == "Active" else inactive).append(key_id)
        identifiers.append(("key_id", key_id))
        when = key.get("CreateDate")
        if isinstance(when, str) and (moment := parse_time(when)) is not None:
            created.append(moment)
    data.update(
        external_id=arn or f"user/{user}",
        name=user,
        kind="service_account",
        environment="other",
        created_via="discovery",
        credential_lifetime="static",
    )
    if created:
        data["last_rotated_at"] = max(created).astimezone(dt.UTC)
    hints = {"name": user}
    if inactive:
        hints["inactive_keys"] = str(len(inactive))
    return ImportRow(
        line=line,
        data=data,
        disabled=bool(keys) and not active and not errors,
        hints=hints,
        identifiers=identifiers,
        errors=errors,
    )
