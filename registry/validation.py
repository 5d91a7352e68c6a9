"""Input rules shared by every service: specific justifications, http(s) tickets and
no secrets in free text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from registry import errors
from registry.policies import Policy
from registry.secret_scan import Finding, find_secret

PLACEHOLDER_JUSTIFICATIONS = frozenset(
    {
        "n/a", "na", "n.a.", "none", "tbd", "tbc", "todo", "to do", "needed", "required",
        "temp", "temporary", "test", "testing", "misc", "see ticket", "ask me", "-", "?",
        "needed for prod", "needed for work", "business need", "business reasons",
    }
)  # fmt: skip

_ticket_validator = URLValidator(schemes=["http", "https"])


# An AWS access key *id* names a key without granting anything (the secret is its
# other half), and a leaked key is looked up by it: the fields that identify a
# credential may hold one, and so may a search for it (`q`) and a saved search (`query`).
# Every other rule is a secret everywhere.
# `identifiers` / `identifier`: a path's other names (key ids, principals, fingerprints)
# as the audit trail and triage record them.
IDENTIFIER_FIELDS = frozenset({"external_id", "q", "query", "identifiers", "identifier"})


def credential_in(field_name: str, text: str) -> Finding | None:
    """The credential in `text`, judged by the rules for `field_name` (the one place
    that decides which fields may name a key id)."""
    return find_secret(text, identifier=field_name in IDENTIFIER_FIELDS)


def secret_errors(values: Mapping[str, object]) -> dict[str, list[str]]:
    """Per-field errors for every string value that looks like a credential."""
    found: dict[str, list[str]] = {}
    for field_name, value in values.items():
        if isinstance(value, str) and (finding := credential_in(field_name, value)):
            found[field_name] = [errors.LOOKS_LIKE_SECRET.format(kind=finding.kind)]
    return found


def justification_error(text: str, policy: Policy) -> str | None:
    normalized = " ".join(text.lower().split()).strip(" .!")
    if not normalized or normalized in PLACEHOLDER_JUSTIFICATIONS:
        return errors.JUSTIFICATION_PLACEHOLDER
    words = re.findall(r"[\w'-]+", normalized)
    if len(normalized) < policy.justification_min_length or len(words) < (
        policy.justification_min_words
    ):
        return errors.JUSTIFICATION_TOO_SHORT.format(
            min_length=policy.justification_min_length,
            min_words=policy.justification_min_words,
        )
    return None


def ticket_url_error(url: str) -> str | None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        return errors.TICKET_URL_SCHEME
    try:
        _ticket_validator(url)
    except ValidationError:
        return errors.TICKET_URL_INVALID
    return None


def merge_errors(*groups: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for group in groups:
        for field_name, messages in group.items():
            merged.setdefault(field_name, []).extend(messages)
    return merged
