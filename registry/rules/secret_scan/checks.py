"""Second looks at a regex match: the checks that keep the rule table's false positives out.

Each check takes the candidate secret (the rule's `v` group, or the whole match) and says
whether it really is one. detect-secrets' own verification helpers are used where it has
them (JWT structure, the OpenAI key marker); the rest are ours.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from urllib.parse import unquote

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.openai import OpenAIDetector

from registry.rules.secret_scan.disguises import decode_base64_text
from registry.rules.secret_scan.entropy import (
    char_classes,
    class_switch_ratio,
    longest_lower_run,
    looks_random,
    shannon,
)

# --- vendor formats ---------------------------------------------------------------------


def aws_secret_key(value: str) -> bool:
    """A bare 40-character AWS secret access key: random base64, not base64 of text, not a
    hex digest, not a CamelCase identifier that happens to be 40 characters long.

    Thresholds sit below what 1 in 10,000 random keys falls under (measured on 200,000
    random 40-character base64 strings): entropy 4.25, class switches 0.2, a lower-case
    run of 13."""
    if char_classes(value.replace("/", "").replace("+", "")) < 3:
        return False
    if longest_lower_run(value) > 12 or class_switch_ratio(value) < 0.2:
        return False
    if shannon(value) < 4.2 or is_wordy(value):
        return False
    return decode_base64_text(value) is None


def jwt(value: str) -> bool:
    """header.payload.signature whose header and payload are base64url JSON, the header
    naming an algorithm or type. Unsigned tokens ("alg": "none", empty signature) count:
    whoever holds one can still present it."""
    header, _, rest = value.partition(".")
    payload, _, _signature = rest.partition(".")
    candidates = (value, f"{header}.{payload}.")
    if not any(JwtTokenDetector.is_formally_valid(candidate) for candidate in candidates):
        return False
    decoded = _b64url_json(header)
    return isinstance(decoded, dict) and bool({"alg", "typ", "enc"} & decoded.keys())


def _b64url_json(part: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def discord_bot_token(value: str) -> bool:
    """A Discord bot token's first segment is the bot's numeric id in base64."""
    first = value.split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=False)
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit() and 15 <= len(decoded) <= 20


_OPENAI_MARKER = "T3BlbkFJ"  # base64 of "OpenAI", embedded in every OpenAI key
_OPENAI_LEGACY = OpenAIDetector.denylist[0]


def openai_key(value: str) -> bool:
    """Legacy keys through detect-secrets' own pattern (applied to a bounded candidate, so
    its unbounded repeat cannot run away); project/service-account/admin keys by marker."""
    if _OPENAI_LEGACY.search(value):
        return True
    head, marker, tail = value.partition(_OPENAI_MARKER)
    return bool(marker) and len(head) >= 20 and len(tail) >= 20


def random_token(value: str) -> bool:
    return looks_random(value)


def hex_with_digits(value: str) -> bool:
    """A hex body with at least one digit and one letter (a word is not an id)."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def basic_auth_header(value: str) -> bool:
    """`Basic <base64>` is a credential when the base64 decodes to user:password."""
    decoded = decode_base64_text(value)
    return decoded is not None and ":" in decoded and not decoded.endswith(":")


def bearer_token(value: str) -> bool:
    return len(value) >= 16 and not is_placeholder(value) and looks_random(value)


def url_password(value: str) -> bool:
    """The password part of scheme://user:password@host. Anything but a template slot."""
    return bool(value) and not _TEMPLATE.search(value) and bool(set(value) - set("*x."))


_SPLIT_USERINFO = re.compile(r"://[^\s:/?#@]*+:([^/?#@]{1,80})@")
_WHITESPACE = re.compile(r"\s+")


def split_url_password(original: str) -> bool:
    """`://user:pass word@` with the password split by whitespace: the scheme and user name
    unbroken (prose glued into a URL breaks them), the password no template slot."""
    match = _SPLIT_USERINFO.fullmatch(original)
    return match is not None and url_password(_WHITESPACE.sub("", match.group(1)))


def assigned_token(value: str) -> bool:
    """A token assigned by name (`_authToken=`, `aws_session_token=`): anything real."""
    return len(value) >= 16 and not is_placeholder(value) and not is_reference(value)


# --- generic assignments ----------------------------------------------------------------

# Template slots and masks: ${VAR}, {name}, {{ x }}, <password>, %(pw)s, %s, $VAR, $(cmd),
# [REDACTED], ****, xxxx, ...; and values that are obviously examples.
_TEMPLATE = re.compile(
    r"\$\{|\$\(|\{[^{}]*\}|\{\{|\{%|<[^>]*>?|%\(|%s\b|^\$[A-Za-z_]|\[[A-Z_ ]*\]|\*{3,}"
    r"|^[xX.#-]{4,}$|\.\.\."
)
_PLACEHOLDER_WORDS = (
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "placeholder",
    "redacted",
    "example",
    "dummy",
    "your_",
    "your-",
    "yourpass",
    "replace_",
    "replace-",
    "fixme",
    "notreal",
    "not-a-real",
    "xxxx",
    "****",
    "sample",
)
_PLACEHOLDER_VALUES = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "empty",
        "hidden",
        "masked",
        "test",
        "testing",
        "todo",
        "tbd",
        "notset",
        "not-set",
        "unset",
        "default",
        "required",
        "optional",
        "string",
        "value",
        "n/a",
    }
)
# Pointers to a secret kept elsewhere: secret managers, vault paths, env/file indirection.
_REFERENCE = re.compile(
    r"""^(?:
        (?:vault|op|env|file|ssm|sm|gcpsm|akv|azurekeyvault|keyvault|kv|k8s|secret|sops|
           awssm|aws-sm|secretsmanager|gsm|doppler|infisical|bw|pass|keychain|ref\+\w+)
        :
      | arn:aws[\w-]*:
      | projects/[^/\s]+/secrets/
      | @Microsoft\.KeyVault\(
      | !(?:vault|Ref|Sub|GetAtt|ImportValue)\b
      | ENC\[
      | https?://
      | /(?:run|var/run|etc|mnt|vault)/
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_AWS_KEY_ID = AWSKeyDetector.denylist[0]
# Path, name and code punctuation: `payments/db-password-v2`, `self.cleaned_data[`,
# `Optional[Union[str`, `request.headers.get(` are words joined, not secrets.
_SEGMENT_SPLIT = re.compile(r"[/_.:\- ()\[\]{},;=]+")
# A word-like segment: lower/Capitalised/UPPER words, numbers, "v1"-style version tags.
# Possessive and atomic throughout: a long word followed by a stray character must fail
# in one pass, not try every way of cutting the word into pieces.
_WORDY = re.compile(
    r"(?:[A-Z]?[a-z]{2,}+|[A-Z]+(?=[A-Z][a-z]|[^A-Za-z]|$)|[0-9]++|[a-z](?=[0-9]|$))++"
)


def is_placeholder(value: str) -> bool:
    lowered = value.lower()
    if lowered in _PLACEHOLDER_VALUES or _TEMPLATE.search(value):
        return True
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


def is_reference(value: str) -> bool:
    return bool(_REFERENCE.match(value))


_LETTER_DIGIT_SWITCH = re.compile(r"[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])")


def is_wordy(value: str) -> bool:
    """Names, paths, code and CamelCase identifiers: every separated segment is made of words
    and numbers, switching between letters and digits at most twice (AmazonS3Read,
    ledger2026, v1), and the letters and digits together rarely change class. Hex digests
    and random strings (`hzNB0uy-X1MH`, cut into short pieces by its dashes) switch all
    the time."""
    segments = [segment for segment in _SEGMENT_SPLIT.split(value) if segment]
    return (
        bool(segments)
        and all(
            _WORDY.fullmatch(segment) and len(_LETTER_DIGIT_SWITCH.findall(segment)) <= 2
            for segment in segments
        )
        and class_switch_ratio("".join(segments)) <= 0.35
    )


@functools.lru_cache(maxsize=1024)
def generic_secret_value(value: str) -> bool:
    """The value of `password=`, `token:`, `client_secret=`...: a secret when it is not a
    placeholder, reference or name, and looks random enough for its length and alphabet.
    (Cached: text repeating one assignment thousands of times costs one look.)"""
    if len(value) < 8 or is_placeholder(value) or is_reference(value) or is_wordy(value):
        return False
    if _PERCENT_ESCAPE.search(value) and unquote(value).isascii():
        # URL-encoded: judged after decoding, where a vendor rule may name it properly.
        # (A `%b9` that decodes to no ASCII character is just part of a password.)
        return False
    if _AWS_KEY_ID.fullmatch(value):
        # An access key id has its own rule, which allows it in identifier fields.
        return False
    classes = char_classes(value)
    entropy = shannon(value)
    length = len(value)
    if classes >= 3:
        return entropy >= min(3.0, 0.8 * math.log2(length))
    if classes == 2:
        return length >= 12 and entropy >= 3.3 and class_switch_ratio(value) >= 0.2
    return length >= 24 and entropy >= 4.0
