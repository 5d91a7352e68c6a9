"""How random a string looks.

Vendor rules recognise a credential by its published shape; rules without a vendor prefix
(a bare AWS secret key, `password=...`, a token glued together from split pieces) have only
this as evidence, so the measures are kept simple and explainable: Shannon entropy per
character, how many character classes appear, and how often neighbouring characters
switch class (random strings switch constantly, identifiers and prose rarely).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter

_LOWER_RUN = re.compile(r"[a-z]+")


def shannon(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    if not text:
        return 0.0
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


_LOWER = re.compile(r"[a-z]")
_UPPER = re.compile(r"[A-Z]")
_DIGIT = re.compile(r"[0-9]")
_OTHER = re.compile(r"[^a-zA-Z0-9]")
# Maximal runs of one class; an upper-case letter followed by a lower-case one.
_CLASS_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+|[^a-zA-Z0-9]+")
_WORD_START = re.compile(r"[A-Z][a-z]")


def alnum_classes(text: str) -> int:
    """How many of lower case, upper case and digits `text` uses."""
    return sum(1 for pattern in (_LOWER, _UPPER, _DIGIT) if pattern.search(text))


def char_classes(text: str) -> int:
    """How many of lower case, upper case, digits and other characters `text` uses."""
    return alnum_classes(text) + (1 if _OTHER.search(text) else 0)


def class_switch_ratio(text: str) -> float:
    """Share of neighbouring pairs whose character classes differ, not counting the
    upper-to-lower step that starts a capitalised word (so CamelCase stays low)."""
    if len(text) < 2:
        return 0.0
    switches = len(_CLASS_RUNS.findall(text)) - 1 - len(_WORD_START.findall(text))
    return switches / (len(text) - 1)


def longest_lower_run(text: str) -> int:
    """Length of the longest run of lower-case letters: glued-together prose has long ones."""
    return max(map(len, _LOWER_RUN.findall(text)), default=0)


@functools.lru_cache(maxsize=64)
def _lower_run_longer_than(limit: int) -> re.Pattern[str]:
    return re.compile(f"[a-z]{{{limit + 1}}}")


def looks_random(text: str, *, min_entropy: float = 3.0) -> bool:
    """True for a token body that looks generated: two or more letter/digit classes, enough
    entropy for its length, and no word-length lower-case run. Used where a match was
    assembled from pieces (the collapsed variant) and prose could otherwise fake one."""
    # Two of lower case, upper case and digits: punctuation does not count, or glued
    # prose with a hyphen ("xoxb-forbotsand") would pass.
    if len(text) < 8 or alnum_classes(text) < 2:
        return False
    # Glued words make long lower-case runs; a long random token has some too (1 in 250
    # of 88 random base64 characters has a run of 11), so the limit grows with length.
    if _lower_run_longer_than(12 + len(text) // 16).search(text):
        return False
    return shannon(text) >= min(min_entropy, 0.8 * math.log2(len(text)))
