"""Interim detector (replaced by the full rule set): the registry's original patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.tokens import TOKEN_PATTERN

REDACTED = "[REDACTED]"

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("NHI Registry API token", TOKEN_PATTERN),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
)
IDENTIFIER_KINDS = frozenset({"AWS access key id"})


@dataclass(frozen=True)
class Finding:
    """A credential found in a value: what kind, and where (for redaction)."""

    kind: str
    start: int
    end: int


def find_secret(value: str, *, identifier: bool = False) -> Finding | None:
    """The first credential in `value`, or None. `identifier=True` is for fields that name
    a credential (external ids, key ids): there an access key *id* is allowed."""
    for kind, pattern in _RULES:
        if identifier and kind in IDENTIFIER_KINDS:
            continue
        if match := pattern.search(value):
            return Finding(kind, match.start(), match.end())
    return None


def redact(text: str) -> str:
    """`text` with every credential-shaped span replaced by [REDACTED]."""
    for _kind, pattern in _RULES:
        text = pattern.sub(REDACTED, text)
    return text
