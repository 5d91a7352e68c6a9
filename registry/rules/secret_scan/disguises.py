"""Undo the obvious ways a credential gets disguised, keeping a map back to the original.

Each function returns the transformed text and, where characters move, an offset list:
`offsets[i]` is the index in the original text of transformed character `i`, with one
extra entry for the end. Findings in a variant are mapped back through it, so a finding
always points at the disguised run in the value the caller passed.

- percent-encoding (`%2B`, and `+` for a space in form encoding)
- a token split by whitespace, line breaks, or quoted pieces glued by concatenation
  (`'AKIA' 'IOSF...'`, `"ghp_ab" + "cd..."`, a key wrapped over lines)
- base64 of a secret (the decoded text is scanned again; nesting is depth-limited by
  the caller)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

# Percent-encoded bytes, decoded a run at a time so multi-byte UTF-8 stays intact.
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
PERCENT_HINT = re.compile(r"%[0-9A-Fa-f]{2}")
# A whitespace- or quote-delimited word holding a `%`: only such words are decoded.
_PERCENT_WORD = re.compile(r"""(?<![^\s"'<>])[^\s"'<>%]*+%[^\s"'<>]*+""")

# What sits between the pieces of a split token: a closing quote, optional concatenation
# operator (+ . & ||), optional backslash line continuation, an opening quote; or plain
# whitespace. Bounded repeats keep this linear on hostile input.
_GAP = re.compile(r"""["'`][ \t]{0,40}+(?:\+|\.|&|\|\|)?+\s{0,40}+\\?+\s{0,40}+["'`]|\\\r?\n|\s+""")

# A base64 (or base64url) run, optionally wrapped over several lines the way encoders
# and PEM bodies wrap it. Every repeat is possessive: nothing here can backtrack.
_B64_CHARS = "A-Za-z0-9+/_-"
_B64_RUN = re.compile(
    rf"[{_B64_CHARS}]{{16,}}+={{0,2}}+"
    rf"(?:[ \t]{{0,16}}+\r?\n[ \t]{{0,16}}+[{_B64_CHARS}]{{4,}}+={{0,2}}+)*+"
)
_HAS_UPPER = re.compile(r"[A-Z]")
_HAS_LOWER = re.compile(r"[a-z]")
_URL_SAFE = re.compile(r"[_-]")
_STANDARD = re.compile(r"[+/]")
_WHITESPACE = re.compile(r"\s+")
# Decoded bytes count as text when nearly all of them are printable.
_MIN_PRINTABLE_SHARE = 0.95


def percent_decode(text: str, *, plus_is_space: bool) -> tuple[str, list[int]]:
    """`text` with %XX runs decoded (and `+` as a space when `plus_is_space`)."""
    if plus_is_space:
        text = text.replace("+", " ")
    out: list[str] = []
    offsets: list[int] = []
    position = 0
    for run in _PERCENT_RUN.finditer(text):
        start, end = run.span()
        out.append(text[position:start])
        offsets.extend(range(position, start))
        decoded = bytes.fromhex(run.group().replace("%", "")).decode("utf-8", "replace")
        out.append(decoded)
        # One triple per ASCII character; a multi-byte character maps to where its
        # bytes start, which is close enough for a redaction span.
        offsets.extend(min(start + 3 * i, end - 3) for i in range(len(decoded)))
        position = end
    out.append(text[position:])
    offsets.extend(range(position, len(text)))
    offsets.append(len(text))
    return "".join(out), offsets


def percent_encoded_words(text: str) -> Iterator[tuple[int, str]]:
    """(start, word) for each word of `text` holding a %XX escape: decoding just these,
    not the whole text, keeps a long log line with one encoded URL cheap."""
    for word in _PERCENT_WORD.finditer(text):
        if PERCENT_HINT.search(word.group()):
            yield word.start(), word.group()


def collapse(text: str) -> tuple[str, list[int]]:
    """`text` with whitespace and quote-concatenation removed between pieces."""
    out: list[str] = []
    offsets: list[int] = []
    position = 0
    for gap in _GAP.finditer(text):
        start, end = gap.span()
        out.append(text[position:start])
        offsets.extend(range(position, start))
        position = end
    out.append(text[position:])
    offsets.extend(range(position, len(text)))
    offsets.append(len(text))
    return "".join(out), offsets


def decode_base64_text(run: str) -> str | None:
    """The text a base64/base64url run decodes to, or None when it is not text.

    Real keys decode to random bytes (almost never all printable), so "decodes to
    printable text" both finds base64-wrapped secrets and clears base64 of prose."""
    compact = _WHITESPACE.sub("", run).rstrip("=")
    if len(compact) % 4 == 1:
        return None
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not text:
        return None
    printable = sum(1 for char in text if char.isprintable() or char in "\r\n\t")
    if printable < _MIN_PRINTABLE_SHARE * len(text):
        return None
    return text


def base64_candidates(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, decoded text) for each base64 run in `text` that decodes to text.

    Only runs with both letter cases are tried: hex digests, UUIDs and lower-case
    names never are base64 of anything worth decoding."""
    for run in _B64_RUN.finditer(text):
        value = run.group()
        if not (_HAS_UPPER.search(value) and _HAS_LOWER.search(value)):
            continue
        if _URL_SAFE.search(value) and _STANDARD.search(value):
            continue  # both alphabets at once: a path like browse/SEC-12, not base64
        decoded = decode_base64_text(value)
        if decoded is not None:
            yield run.start(), run.end(), decoded
            continue
        if "\n" in value:
            # A wrapped run that does not decode as a whole: try its lines one by one.
            offset = run.start()
            for line in value.split("\n"):
                stripped = line.strip()
                lead = line.find(stripped)
                if len(stripped) >= 16 and (decoded := decode_base64_text(stripped)):
                    yield offset + lead, offset + lead + len(stripped), decoded
                offset += len(line) + 1
