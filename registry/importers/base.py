"""What every reader produces."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from registry.rules.validation import secret_errors


@dataclass
class ImportRow:
    """One access path as a source describes it.

    `line`: where it is in the source (CSV line number counting the header as 1; for
    JSON, the 1-based position of the item in its list), so a refusal can name it.
    `data`: AccessPath field names (name, kind, system, external_id, environment,
    created_via, created_by_ref, consumers, privilege_scope, credential_lifetime,
    rotation_days, last_rotated_at, last_used_at, expires_at, justification,
    ticket_url, risk_tier, tags, ...) with Python values: aware UTC datetimes, ints,
    bools, lists of tag slugs. Only facts the source states are present.
    `disabled`: the source says the credential cannot be used any more (a disabled key,
    an inactive access key): the registry retires it.
    `interactive_login`: whether a person could sign in with it (an IAM user with a
    console password: NHI10 human use of a non-human identity); None when the source
    does not say, so a source that cannot know never clears what another reported.
    `hints`: facts for owner suggestions (namespace, repository, owner, creator...).
    `identifiers`: every other name the source gives the credential, as (kind, value)
    with kind one of key_id, principal, fingerprint, client_id (CredentialIdentifier);
    recorded on the path after the row is applied (services/identifiers.py), never
    retiring identifiers recorded by hand or by another source.
    `errors`: why this row cannot be imported; a row with errors has no other effect.
    """

    line: int
    data: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False
    interactive_login: bool | None = None
    hints: dict[str, str] = field(default_factory=dict)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Reader(Protocol):
    def __call__(self, source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
        """Rows of `source`; `system` overrides the source's default system name."""


def parse_time(value: str) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 date-time with a zone, else None."""
    if "T" not in value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(dt.UTC)


def read_time(value: Any, label: str, errors: list[str]) -> dt.datetime | None:
    """A source's optional timestamp: None when absent, an aware UTC datetime when it is
    an ISO 8601 date-time with a zone; anything else is None plus an error naming
    `label` (the field or column) appended to the row's `errors`."""
    if value is None:
        return None
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        errors.append(f"{label}: not an ISO 8601 timestamp with a time zone: {value!r}.")
    return parsed


def without_secrets(row: ImportRow) -> ImportRow:
    """Drop every secret-shaped value (the field goes, an error names it)."""
    for field_name, messages in secret_errors(row.data).items():
        del row.data[field_name]
        row.errors.extend(f"{field_name}: {message}" for message in messages)
    for key, messages in secret_errors(row.hints).items():
        del row.hints[key]
        row.errors.extend(f"{key}: {message}" for message in messages)
    return row


def load_json(source: BinaryIO) -> tuple[Any, str | None]:
    """The source's JSON document, or why it cannot be read (a file-level error)."""
    try:
        return json.loads(source.read().decode("utf-8-sig")), None
    except UnicodeDecodeError as exc:
        return None, f"The file is not UTF-8 text ({exc.reason})."
    except json.JSONDecodeError as exc:
        return None, f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
