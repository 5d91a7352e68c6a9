"""The pipeline: prefilter, the rules it points at, then the disguised variants.

    find_secret(value)
      1. prefilter (prefilter.py): one regex search; nearly every ordinary value stops
         here. Otherwise it lists the triggers it saw (vendor prefixes, a long mixed-case
         run, a key name before `=`/`:`...), and only the rules they name run next;
      2. those specific rules (vendor formats), each its own compiled regex, plus the
         second look its check gives a match (rules.py, checks.py);
      3. the collapsed variant (whitespace and quote concatenation removed), with the
         vendor-prefix rules only, matches there must also look random;
      4. shape-only rules (a bare AWS secret key, Discord, Telegram, Mailchimp): after the
         collapsed variant, as such a shape may be a piece of a split token;
      5. generic rules (key name + entropy), after the above so a vendor credential inside
         `token: ...` is named for what it is;
      6. words holding %XX escapes, decoded (then also with `+` as a space), and base64
         runs that decode to text: each scanned from step 1 again (disguises.py).
    Decoding nests (URL-encoded base64 of a key) up to MAX_DEPTH layers.

Findings point into the value the caller passed: for a disguised credential, at the
disguised run (the base64 run, the %-encoded span, the pieces and the gaps between).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from registry.rules.secret_scan import disguises, prefilter
from registry.rules.secret_scan.entropy import looks_random
from registry.rules.secret_scan.patterns import Rule, collapsed_patterns
from registry.rules.secret_scan.rules import RULES, TRIGGERS

REDACTED = "[REDACTED]"
MAX_DEPTH = 3
# Nothing shorter holds a credential any rule recognises (`pwd=Ab3$xY9z` is 12).
_MIN_LENGTH = 12
_GAP_CHARS = re.compile(r"""[\s"'`\\]""")
# A collapsed match is retried ending at this many gaps at most (glued words after it).
_MAX_RETRIES = 24
# redact() scans long text in pieces of about this many characters.
_CHUNK = 16_384
_BLOCK_START = re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY|PuTTY-User-Key-File-")
_BLOCK_END = re.compile(r"-----END[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]*-----|Private-MAC: \w+")


@dataclass(frozen=True)
class Finding:
    """A credential found in a value: what kind, and where (for redaction)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Compiled:
    """One rule, compiled on its own: it only runs when the prefilter saw its trigger."""

    rule: Rule
    regex: re.Pattern[str]
    collapsed: re.Pattern[str] | None
    value_groups: tuple[str, ...]

    def secret_span(self, match: re.Match[str]) -> tuple[int, int]:
        for name in self.value_groups:
            if match.start(name) >= 0:
                return match.span(name)
        return match.span()


def _compile(rule: Rule) -> _Compiled:
    def joined(patterns: tuple[str, ...]) -> str:
        # Each alternative's `v` group gets its own name (v0, v1...): a regex may not
        # repeat one. The same numbering holds for the collapsed variant.
        return "|".join(
            pattern.replace("(?P<v>", f"(?P<v{number}>") for number, pattern in enumerate(patterns)
        )

    names = tuple(f"v{n}" for n, pattern in enumerate(rule.patterns) if "(?P<v>" in pattern)
    collapsed = re.compile(joined(collapsed_patterns(rule))) if rule.collapsible else None
    return _Compiled(rule, re.compile(joined(rule.patterns)), collapsed, names)


_COMPILED = tuple(_compile(rule) for rule in RULES)
PREFILTER = prefilter.build(TRIGGERS)
# Literal triggers only: rerun when a long run was seen, since the prefilter consumes a
# run whole and a vendor prefix glued inside it (`Bucket/AKIA...`) would go unseen.
_LITERALS = prefilter.build(TRIGGERS, structural=False)
_prefilter_search = PREFILTER.regex.search
_RULES_BY_TRIGGER: dict[str, list[int]] = {}
for _index, _rule in enumerate(RULES):
    for _name in (*_rule.triggers, *_rule.hints):
        _RULES_BY_TRIGGER.setdefault(_name, []).append(_index)


@dataclass(frozen=True)
class _Plan:
    """What to run for one set of triggers (cached: values repeat their shapes)."""

    specific: tuple[_Compiled, ...]
    shape_only: tuple[_Compiled, ...]
    collapsible: tuple[_Compiled, ...]
    generic: tuple[_Compiled, ...]
    percent: bool
    base64: bool


@functools.lru_cache(maxsize=1024)
def _plan(names: frozenset[str]) -> _Plan:
    indexes = sorted({i for name in names for i in _RULES_BY_TRIGGER.get(name, ())})
    relevant = [_COMPILED[i] for i in indexes]
    return _Plan(
        specific=tuple(c for c in relevant if not (c.rule.generic or c.rule.shape_only)),
        shape_only=tuple(c for c in relevant if c.rule.shape_only),
        collapsible=tuple(c for c in relevant if c.collapsed is not None),
        generic=tuple(c for c in relevant if c.rule.generic),
        percent=prefilter.PERCENT in names,
        base64=prefilter.RUN in names,
    )


def _touches(text: str, start: int, end: int, edges: frozenset[str]) -> bool:
    return (start > 0 and text[start - 1] in edges) or (end < len(text) and text[end] in edges)


def _scan(compiled: _Compiled, text: str, identifier: bool) -> Iterator[Finding]:
    """Every accepted match of one rule, left to right. After a rejected match the search
    moves on by one character, so a longer candidate cannot hide a shorter valid one."""
    rule = compiled.rule
    if identifier and rule.identifier_ok:
        return
    position = 0
    while match := compiled.regex.search(text, position):
        start, end = compiled.secret_span(match)
        if (not rule.edges or not _touches(text, match.start(), match.end(), rule.edges)) and (
            not rule.check or rule.check(text[start:end])
        ):
            yield Finding(rule.kind, start, end)
            position = match.end()
        elif rule.generic:
            # A key name cannot start inside itself: go on from its value, which may
            # hold the next assignment (`a=password=...`).
            position = max(match.start() + 1, start)
        else:
            position = match.start() + 1


def _scan_collapsed(
    plan: _Plan, text: str, identifier: bool, found: list[Finding]
) -> Iterator[Finding]:
    """Vendor-prefix rules on `text` with whitespace and quote-concatenation removed.

    The pieces are glued, so a match may run on into the next word: it is retried ending
    at each earlier gap. Edges are checked in the original text, and the secret must look
    random (glued prose does not). A match starting inside a credential the direct scan
    `found` is that credential again, glued to the words after it: skipped."""
    collapsed, offsets = disguises.collapse(text)
    if len(collapsed) == len(text):
        return
    # `found` is sorted by start: with the running maximum of its ends, whether a position
    # lies inside one of them is a binary search, not a walk over all of them.
    starts = [f.start for f in found]
    reach = list(itertools.accumulate((f.end for f in found), max))
    for compiled in plan.collapsible:
        if identifier and compiled.rule.identifier_ok:
            continue
        position = 0
        while match := compiled.collapsed.search(collapsed, position):  # type: ignore[union-attr]
            origin = offsets[match.start()]
            before = bisect.bisect_right(starts, origin) - 1
            if before >= 0 and reach[before] > origin:
                position = match.start() + 1
                continue
            finding = _accept_collapsed(compiled, match, collapsed, offsets, text)
            if finding:
                yield finding
                position = match.end()
            else:
                position = match.start() + 1


def _accept_collapsed(
    compiled: _Compiled,
    match: re.Match[str],
    collapsed: str,
    offsets: list[int],
    original: str,
) -> Finding | None:
    rule = compiled.rule
    start, end = match.span()
    if offsets[end - 1] - offsets[start] == end - 1 - start:
        return None  # no gap inside: the direct scan saw this very text
    # Gap positions, last first; ending at the first one would cross no gap at all. A
    # token split into more pieces than _MAX_RETRIES is not one anybody would paste.
    gaps = [k for k in range(end - 1, start, -1) if offsets[k] != offsets[k - 1] + 1][:-1]
    for stop in (end, *gaps[:_MAX_RETRIES]):
        candidate = compiled.collapsed.fullmatch(collapsed, start, stop)  # type: ignore[union-attr]
        if candidate is None:
            continue
        first, last = offsets[start], offsets[stop - 1] + 1
        if rule.edges and _touches(original, first, last, rule.edges):
            continue
        secret_start, secret_end = compiled.secret_span(candidate)
        secret = collapsed[secret_start:secret_end]
        if rule.collapsed_check:
            if not rule.collapsed_check(original[first:last]):
                continue
        elif not looks_random(secret) or (rule.check and not rule.check(secret)):
            continue
        return Finding(rule.kind, offsets[secret_start], offsets[secret_end - 1] + 1)
    return None


def _mapped(finding: Finding, offsets: list[int], original: str) -> Finding:
    """A finding in a percent-decoded variant, mapped back (a %XX triple stays whole)."""
    start = offsets[finding.start]
    last = offsets[finding.end - 1]
    end = last + 3 if original.startswith("%", last) else last + 1
    return Finding(finding.kind, start, end)


def _findings(text: str, identifier: bool, depth: int) -> Iterator[Finding]:
    """Every finding in `text`, in the order of the module docstring's stages (lazy:
    find_secret stops at the first). The order names a credential for what it is: the
    collapsed variant before the generic rules (`token: ghp_ab cd...` is a GitHub token),
    shape-only rules after it (a 40-character piece of a split PyPI token is no AWS key)."""
    if len(text) < _MIN_LENGTH:
        return
    names = PREFILTER.triggers(text)
    if not names:
        return
    if prefilter.RUN in names:
        names |= _LITERALS.triggers(text)
    plan = _plan(frozenset(names))
    specific = sorted(
        (f for c in plan.specific for f in _scan(c, text, identifier)), key=lambda f: f.start
    )
    yield from specific
    if plan.collapsible and _GAP_CHARS.search(text):
        yield from _scan_collapsed(plan, text, identifier, specific)
    for compiled in plan.shape_only:
        yield from _scan(compiled, text, identifier)
    for compiled in plan.generic:
        yield from _scan(compiled, text, identifier)
    if depth < MAX_DEPTH:
        yield from _decoded(plan, text, identifier, depth)


def _decoded(plan: _Plan, text: str, identifier: bool, depth: int) -> Iterator[Finding]:
    """Findings in the %-encoded words and base64 runs of `text`, decoded."""
    words = list(disguises.percent_encoded_words(text)) if plan.percent else []
    for start, word in words:
        yield from _percent_decoded(word, start, identifier, depth, plus_is_space=False)
    if plan.base64:
        for start, end, decoded in disguises.base64_candidates(text):
            for finding in _findings(decoded, identifier, depth + 1):
                yield Finding(finding.kind, start, end)
    # Form encoding (`+` for a space) last: read that way, base64 runs lose their `+`.
    for start, word in words:
        if "+" in word:
            yield from _percent_decoded(word, start, identifier, depth, plus_is_space=True)


def _percent_decoded(
    word: str, start: int, identifier: bool, depth: int, *, plus_is_space: bool
) -> Iterator[Finding]:
    decoded, offsets = disguises.percent_decode(word, plus_is_space=plus_is_space)
    for finding in _findings(decoded, identifier, depth + 1):
        mapped = _mapped(finding, offsets, word)
        yield Finding(mapped.kind, start + mapped.start, start + mapped.end)


def find_secret(value: str, *, identifier: bool = False) -> Finding | None:
    """The first credential in `value`, or None. `identifier=True` is for fields that name
    a credential (external ids, key ids): there an access key *id* is allowed."""
    # The common case inline: a short value, or no trigger at all, costs one search.
    if len(value) < _MIN_LENGTH or not _prefilter_search(value):
        return None
    return next(_findings(value, identifier, 0), None)


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(offset, piece) of `text`, cut after a line end every _CHUNK characters or so.

    Long text (a log file, a traceback with a request body) is scanned a piece at a time,
    so a disguise stage triggered by one line does not re-scan the whole text. A private
    key block is never cut: the piece runs on to the block's end line."""
    position = 0
    while len(text) - position > 2 * _CHUNK:
        limit = min(position + 4 * _CHUNK, len(text))
        # After a line end; in one very long line, after a space; else at the limit.
        end = (
            text.find("\n", position + _CHUNK, limit) + 1
            or text.find(" ", position + _CHUNK, limit) + 1
            or limit
        )
        opened = _BLOCK_START.search(text, position, end)
        while opened and (closed := _BLOCK_END.search(text, opened.end(), end + _CHUNK)):
            if closed.end() <= end:
                opened = _BLOCK_START.search(text, closed.end(), end)
                continue
            end = text.find("\n", closed.end()) + 1 or len(text)
            break
        yield position, text[position:end]
        position = end
    yield position, text[position:]


def redact(text: str) -> str:
    """`text` with every credential-shaped span replaced by [REDACTED]."""
    spans = sorted(
        (offset + finding.start, offset + finding.end)
        for offset, piece in _chunks(text)
        for finding in _findings(piece, False, 0)
    )
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, position = [], 0
    for start, end in merged:
        parts += [text[position:start], REDACTED]
        position = end
    parts.append(text[position:])
    return "".join(parts)
