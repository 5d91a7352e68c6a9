"""Input rules shared by every service: specific justifications, http(s) tickets and
no secrets in free text; the provenance pipeline-made and AI-assisted access records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from registry.models import AccessPath
from registry.rules import errors
from registry.rules.policies import Policy
from registry.rules.posture import PROVENANCE_REQUIRED
from registry.rules.secret_scan import Finding, find_secret
from registry.rules.secret_scan.rules import RULES as SECRET_RULES

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


def _message_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{kind}"), "(?P<kind>.+)", 1))


# The refusals that say a value was a credential (secret_errors, an identifier that is
# a credential): what registry/services/leak_signals.py records against the path.
_CREDENTIAL_REFUSALS = (
    _message_pattern(errors.LOOKS_LIKE_SECRET),
    _message_pattern(errors.IDENTIFIER_IS_A_CREDENTIAL),
)
# What names a credential without granting anything (an AWS access key id): refused
# outside the identifier fields, but no leak.
_NAMES_ONLY = frozenset(rule.kind for rule in SECRET_RULES if rule.identifier_ok)


def _leaks(message: str) -> bool:
    for pattern in _CREDENTIAL_REFUSALS:
        if (match := pattern.fullmatch(message)) is not None:
            return match.group("kind") not in _NAMES_ONLY
    return False


def credential_refused_fields(found: Mapping[str, Iterable[str]]) -> list[str]:
    """The fields of a refusal's per-field messages that were refused for holding a
    credential (their names only: the values are never kept). A key id alone is no
    credential."""
    return sorted(
        field_name
        for field_name, messages in found.items()
        if any(_leaks(str(message)) for message in messages)
    )


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


def change_url_error(url: str) -> str | None:
    """A change link (the pull request or commit that made the access): http(s) only."""
    if ticket_url_error(url) is None:
        return None
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return (
        errors.CHANGE_URL_SCHEME if scheme not in ("http", "https") else errors.CHANGE_URL_INVALID
    )


# --- provenance -----------------------------------------------------------------------

# What a path made by a pipeline or an AI agent records: the change, who merged it and in
# which team, and (for an agent) the tool that proposed it. The fields whose change asks
# the question again when a path is edited (created_via included: becoming pipeline-made
# asks it too).
PROVENANCE_FIELDS = ("change_url", "merged_by", "merged_by_team", "proposed_by")
PROVENANCE_INPUTS = ("created_via", *PROVENANCE_FIELDS)


def provenance_missing(path: AccessPath) -> tuple[str, ...]:
    """The fields a pipeline-made or agent-made path lacks, `owner_team` among them when
    it has no owning team; () for any other path. The same test, for one row, as
    rules.posture.provenance_missing_q with the MISSING_PROVENANCE rule's created_via
    condition (tests/rules/test_provenance.py holds them together)."""
    if path.created_via not in PROVENANCE_REQUIRED:
        return ()
    missing = [field for field in ("change_url", "merged_by") if not getattr(path, field)]
    if path.merged_by_team_id is None:
        missing.append("merged_by_team")
    if path.created_via == AccessPath.CreatedVia.AI_AGENT and not path.proposed_by:
        missing.append("proposed_by")
    if path.owner_team_id is None:
        missing.append("owner_team")
    return tuple(missing)


def provenance_errors(path: AccessPath) -> dict[str, list[str]]:
    """Per-field errors for what `provenance_missing` finds (a refusal names each)."""
    via = path.created_via
    return {
        field: [
            errors.PROVENANCE_OWNER_REQUIRED.format(created_via=via)
            if field == "owner_team"
            else errors.PROVENANCE_REQUIRED.format(created_via=via)
        ]
        for field in provenance_missing(path)
    }


def merge_errors(*groups: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for group in groups:
        for field_name, messages in group.items():
            merged.setdefault(field_name, []).extend(messages)
    return merged


# --- what any input may contain -------------------------------------------------------

# Nesting deeper than this is no registry document (the deepest, an import row with
# identifiers, is four levels); deeper input is refused before anything reads it.
MAX_INPUT_DEPTH = 32
# No field holds more text than this (a justification, a plan, a reason: a few
# paragraphs at most). Every value is kept in the undeletable audit trail, so one
# oversized edit would weigh on every page and export that shows the path for good.
MAX_TEXT_LENGTH = 10_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def unsafe_text_error(text: str) -> str | None:
    """Why `text` cannot be stored anywhere: a NUL character (PostgreSQL text cannot
    hold it), half of a UTF-16 pair (not Unicode at all), or more than MAX_TEXT_LENGTH
    characters. None when it is fine."""
    if len(text) > MAX_TEXT_LENGTH:
        return f"Longer than {MAX_TEXT_LENGTH:,} characters."
    if "\x00" in text:
        return "Contains a NUL character, which no field accepts."
    if _SURROGATE.search(text):
        return "Is not valid Unicode (an unpaired surrogate)."
    return None


def unsafe_input_errors(data: object, field: str = "", depth: int = 0) -> dict[str, list[str]]:
    """Every unsafe string in a parsed document (keys included), named by its path
    (`identifiers[0].value`), and whether it nests too deeply: {field: [message]}."""
    if depth > MAX_INPUT_DEPTH:
        return {field or "non_field_errors": [f"Nested deeper than {MAX_INPUT_DEPTH} levels."]}
    errors: dict[str, list[str]] = {}
    if isinstance(data, str):
        if message := unsafe_text_error(data):
            errors[field or "non_field_errors"] = [message]
    elif isinstance(data, dict):
        for key, value in data.items():
            name = f"{field}.{key}" if field else str(key)
            if isinstance(key, str) and (message := unsafe_text_error(key)):
                errors[field or "non_field_errors"] = [f"A key {message[0].lower()}{message[1:]}"]
                continue
            errors.update(unsafe_input_errors(value, name, depth + 1))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            errors.update(unsafe_input_errors(value, f"{field}[{index}]", depth + 1))
    return errors
