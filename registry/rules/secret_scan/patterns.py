"""What a secret-detection rule is (`Rule`), and the pattern fragments and helpers the
rule table (rules.py) builds its rules from. The conventions every pattern follows are
in rules.py's docstring."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
TOKEN = ALNUM | frozenset("_-")


@dataclass(frozen=True)
class Rule:
    kind: str
    """What the user is told was found ("GitHub token")."""
    patterns: tuple[str, ...]
    """Alternatives, tried in order at a position (put the widest first)."""
    source: str
    """Where the format comes from: a detect-secrets plugin, or our own rule."""
    check: Callable[[str], bool] | None = None
    """Second look at the secret (group `v`, or the whole match)."""
    edges: frozenset[str] | None = ALNUM
    """Characters that may not touch the match: it would be part of a longer token."""
    triggers: tuple[str, ...] = ()
    """Literals in every match (vendor prefixes): the rule runs when one is present."""
    hints: frozenset[str] = frozenset()
    """Prefilter categories that also make the rule run, for rules without a literal
    (RUN: long mixed-case run, ASSIGN: key name before = or :, URL, HEX_DASH, FLAG)."""
    collapsible: bool = False
    """Also applied to the whitespace/quote-collapsed variant (vendor prefixes only:
    generic rules on collapsed prose would see secrets everywhere)."""
    collapsed_check: Callable[[str], bool] | None = None
    """For a match in the collapsed variant, judged on the original text it spans instead
    of the default (the secret must look random): for secrets that may be words."""
    shape_only: bool = False
    """No vendor prefix or key name, only a shape: a match may be a piece of a token
    split by whitespace, so these are tried after the collapsed variant."""
    generic: bool = False
    """Evidence is the key name plus entropy, not a vendor format: tried after every
    specific rule, so `api_key=sk_live_...` is reported as a Stripe key."""
    identifier_ok: bool = False
    """Allowed in fields that name a credential (external ids)."""


def ds(pattern: re.Pattern[str]) -> str:
    """A detect-secrets denylist pattern as a group embeddable in our alternation."""
    if pattern.flags & ~(re.IGNORECASE | re.UNICODE):
        raise ValueError(f"unexpected flags on {pattern.pattern!r}")
    prefix = "(?i:" if pattern.flags & re.IGNORECASE else "(?:"
    return prefix + pattern.pattern + ")"


def _without_word_boundaries(pattern: str) -> str:
    if not (pattern.startswith(r"\b") and pattern.endswith(r"\b")):
        raise ValueError(f"expected a \\b-bounded pattern, got {pattern!r}")
    return pattern[2:-2]


# Shared fragments. An assignment is `key = value`, `key: value`, `"key": "value"`,
# `key => value`, `key := value`, with the value optionally quoted.
ASSIGNMENT = r"""["'\]]?\s{0,3}+(?:=>|:=|==|=|:)\s{0,3}+["'`]?"""
B64 = "A-Za-z0-9+/"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def any_case(words: Iterable[str]) -> str:
    """A case-insensitive alternation of `words`, written as a trie of `[Aa]` classes.

    Every branch then starts with a character class, which the regex engine rejects in
    one step at each position; `(?i:...)` would enter every branch everywhere."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [
            (f"[{char.upper()}{char}]" if char.isalpha() else re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


_KEY_PARTS = (
    "api",
    "access",
    "secret",
    "private",
    "signing",
    "encryption",
    "master",
    "account",
    "auth",
    "client",
    "app",
    "license",
    "shared",
    "admin",
    "service",
)
_KEY_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "token",
    "credential",
    "credentials",
    "auth",
    "apikey",
    *(f"{part}{separator}key" for part in _KEY_PARTS for separator in ("", "_", ".", "-")),
)
# Key names the generic rule looks for: the name must END with one of these (optionally
# followed by value/string/text), so secret_name=, token_expires_at= and keyId: do not
# count. Pagination cursors (next_token=, pageToken:) are not credentials, and `:secret:`
# is the resource type inside a Secrets Manager ARN, not a key name.
GENERIC_KEYWORD = (
    any_case(_KEY_NAMES)
    + r"(?i:[_.-]?(?:value|string|text|plain(?:text)?))?"
    + r"(?<!:(?i:secret))(?<!(?i:next_token))(?<!(?i:nexttoken))"
    + r"(?<!(?i:page_token))(?<!(?i:pagetoken))"
)
# Generic values stop at whitespace, quotes and list/query separators.
GENERIC_VALUE = r"""(?P<v>[^\s"'`,;&|]{1,256}+)"""


_TRAILING_LOOKAHEAD = re.compile(r"\(\?!\[[^\]]*\]\)$")


def collapsed_patterns(rule: Rule) -> tuple[str, ...]:
    """A collapsible rule's patterns for the collapsed variant, without their boundaries
    (`\\b`, a trailing `(?![...])`): glued to the next word, a split token has none. The
    detector checks that the pieces start and end at gaps in the original text instead."""
    return tuple(
        _TRAILING_LOOKAHEAD.sub(
            "", _without_word_boundaries(pattern) if pattern.startswith(r"\b") else pattern
        )
        for pattern in rule.patterns
    )
