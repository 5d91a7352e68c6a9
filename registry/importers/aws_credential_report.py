"""AWS IAM credential report (`aws iam get-credential-report`, the CSV it returns).

One row per IAM user: the user's programmatic access (its access keys and signing
certificates) is the access path.

- `system` "aws" (or the `system` argument, e.g. "aws/123456789012"); `external_id`
  the user's ARN; `name` the user name; `kind` service_account; `environment` other;
  `created_via` discovery; `credential_lifetime` static (access keys never expire).
- `last_rotated_at`: the latest `*_last_rotated` among the user's *active* access keys
  and signing certificates (absent when none is active).
- `last_used_at`: the latest `access_key_N_last_used_date` (any key; `N/A` means never
  used, or not since AWS began tracking). Console sign-ins (`password_last_used`) are
  human use, not the path's, and are not counted.
- `disabled`: no access key and no certificate is active: the user cannot call the API.
- `interactive_login`: `password_enabled` is true (a console password: NHI10).
- `mfa_active`: the report's `mfa_active` column, when it states one (NHI4: a console
  password without MFA). A value the report does not give leaves the registry's alone.
- hints: `name` (the user name), `account` (from the ARN) and `iam_path` when the user
  has a path other than "/" (teams often encode ownership in it).
- The root account (`<root_account>`) is not an access path: its row is skipped, unless
  it has an active access key, which becomes a row with an error (AWS's own advice is
  that the root user has no access keys; the import reports it, never registers it).
- Special values: `N/A`, `no_information`, `not_supported` and empty mean "no value";
  booleans are `true`/`false` in any case. A value that is neither is a row error naming
  its column; timestamps must be ISO 8601 with a time zone (AWS writes `+00:00`).
- Columns are found by name: extra columns are ignored; a header missing any of the 22
  documented columns gives one error row (line 1) and nothing else.
- Lines count the header as 1. Secret-shaped values never reach `data` or `hints`: the
  field is dropped and the row gets an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, read_time, without_secrets

DEFAULT_SYSTEM = "aws"
COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
    "password_last_changed", "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)  # fmt: skip
ROOT_USER = "<root_account>"
NO_VALUE = frozenset({"", "n/a", "no_information", "not_supported"})
ROOT_HAS_KEYS = (
    "The root account has active access keys: remove them (the root user should have "
    "none; use IAM roles or users instead)."
)
_USER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):user(/(?:[^/]+/)*)[^/]+$")
_CREDENTIALS = (
    ("access_key_1_active", "access_key_1_last_rotated"),
    ("access_key_2_active", "access_key_2_last_rotated"),
    ("cert_1_active", "cert_1_last_rotated"),
    ("cert_2_active", "cert_2_last_rotated"),
)
_KEYS_ACTIVE = ("access_key_1_active", "access_key_2_active")
_LAST_USED = ("access_key_1_last_used_date", "access_key_2_last_used_date")


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    system_name = system or DEFAULT_SYSTEM
    try:
        text = source.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield ImportRow(line=1, errors=[f"The file is not UTF-8 text ({exc.reason})."])
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield ImportRow(line=1, errors=[f"The header is not valid CSV ({exc})."])
        return
    if not header:
        yield ImportRow(line=1, errors=["The file is empty: expected an AWS credential report."])
        return
    header = [column.strip() for column in header]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        yield ImportRow(
            line=1,
            errors=[
                "Not an AWS IAM credential report: the header lacks " + ", ".join(missing) + "."
            ],
        )
        return
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader, None)
        except csv.Error as exc:
            yield ImportRow(line=line, errors=[f"Not valid CSV ({exc})."])
            return
        if record is None:
            return
        if not any(value.strip() for value in record):
            continue
        if len(record) != len(header):
            yield ImportRow(
                line=line,
                errors=[f"Expected {len(header)} fields, found {len(record)}."],
            )
            continue
        row = _row(line, dict(zip(header, record, strict=True)), system_name)
        if row is not None:
            yield without_secrets(row)


def _row(line: int, fields: dict[str, str], system_name: str) -> ImportRow | None:
    errors: list[str] = []

    def flag(column: str) -> bool:
        value = fields[column].strip()
        if value.lower() in NO_VALUE:
            return False
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        errors.append(f"{column}: expected true or false, got {value!r}.")
        return False

    def timestamp(column: str) -> dt.datetime | None:
        value = fields[column].strip()
        return None if value.lower() in NO_VALUE else read_time(value, column, errors)

    user = fields["user"].strip()
    arn = fields["arn"].strip()
    data: dict[str, Any] = {"system": system_name}
    if arn:
        data["external_id"] = arn
    if user:
        data["name"] = user
    if user == ROOT_USER or arn.endswith(":root"):
        if any(flag(column) for column in _KEYS_ACTIVE):
            data["name"] = "AWS account root user"
            return ImportRow(line=line, data=data, errors=[*errors, ROOT_HAS_KEYS])
        return None
    if not user:
        errors.append("user: empty.")
    match = _USER_ARN.match(arn)
    if match is None:
        errors.append(f"arn: not an IAM user ARN: {arn!r}.")

    active = [(flag(active), timestamp(rotated)) for active, rotated in _CREDENTIALS]
    rotations = [rotated for is_active, rotated in active if is_active and rotated]
    last_used = [moment for moment in map(timestamp, _LAST_USED) if moment]
    password = flag("password_enabled")
    mfa = fields["mfa_active"].strip().lower()

    data.update(
        kind="service_account",
        environment="other",
        created_via="discovery",
        credential_lifetime="static",
    )
    if mfa not in NO_VALUE:
        data["mfa_active"] = flag("mfa_active")
    if rotations:
        data["last_rotated_at"] = max(rotations)
    if last_used:
        data["last_used_at"] = max(last_used)
    hints = {"name": user} if user else {}
    if match is not None:
        hints["account"] = match.group(1)
        if match.group(2) != "/":
            hints["iam_path"] = match.group(2)
    return ImportRow(
        line=line,
        data=data,
        disabled=not any(is_active for is_active, _ in active),
        interactive_login=password,
        hints=hints,
        identifiers=[("principal", arn)] if match is not None else [],
        errors=errors,
    )
