"""The API token format: recognisable, checksummed, stored only as a hash.

    nhir_<30 base62 random characters><6 base62 characters of CRC32>

The fixed prefix lets secret scanners (and the registry's own free-text check) spot a
leaked token; the checksum lets them, and us, reject a mistyped or invented one without
a database lookup. 30 base62 characters carry ~178 bits, so a fast hash (SHA-256) is
enough to store: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib

PREFIX = "nhir_"
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 30
_CHECKSUM_LENGTH = 6
TOKEN_PATTERN = re.compile(rf"\b{PREFIX}[0-9A-Za-z]{{{_RANDOM_LENGTH + _CHECKSUM_LENGTH}}}\b")
# How many leading characters are kept in clear to tell tokens apart.
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 8


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(token: str) -> bool:
    if not TOKEN_PATTERN.fullmatch(token):
        return False
    body = token[len(PREFIX) : len(PREFIX) + _RANDOM_LENGTH]
    return secrets.compare_digest(token[-_CHECKSUM_LENGTH:], _checksum(body))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]
