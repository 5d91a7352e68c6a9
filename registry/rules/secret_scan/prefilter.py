"""The cheap first question: could this value hold a credential, and which rules matter?

Nearly every imported field is a name, an ARN, a UUID or a sentence; they must cost a
single regex search. The prefilter finds triggers, and each rule runs only when one of
its triggers was seen (the idea behind gitleaks' rule keywords):

- a rule's literal trigger (vendor prefix `ghp_`, `AKIA`, `BEGIN`, `sig=`...), present
  even when the token is split by whitespace;
- RUN: 16+ token characters mixing upper case, lower case and a digit or `+`, or ending
  in base64 padding (random tokens, bare AWS secret keys, base64 of anything worth
  decoding, Discord and Telegram tokens);
- ASSIGN: a key name ending like password/secret/token/key/auth/credential right before
  `=` or `:`; FLAG: a `--password` style flag;
- URL: `://user:...@`; HEX_DASH: 32 hex then `-` (Mailgun, Mailchimp);
- PERCENT: `%XX`, for the URL-decoding stage.

Speed comes from the regex engine's first-character scan: the pattern is an alternation
whose branches each start with one literal character, so the engine skips, in C, every
position whose character cannot start a branch. Each trigger is therefore anchored at
its rarest character (punctuation, then capitals, then rare letters) with a lookbehind
for what precedes it: `ghp_` becomes `_(?<=ghp_)`, `dapi` becomes `p(?<=dap)i`. Lower
case letters and digits, most of any ordinary value, are almost never visited. An empty
named group closes each branch, so a match says which trigger it was.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

RUN = "run"
ASSIGN = "assign"
FLAG = "flag"
URL = "url"
HEX_DASH = "hex-dash"
PERCENT = "percent"

# English letter frequency, most common first: the later a letter, the better an anchor.
_LETTER_FREQUENCY = "etaoinshrdlcumwfgypbvkjxqz"
_RUN_CHAR = r"[A-Za-z0-9+/_-]"
# Three-letter endings of the assignment rules' key names (password, passwd, pwd, pass,
# passphrase, secret, token, *key, auth, credential(s), *value/string/text), checked
# behind `=` or `:`. Over-matching ("class=") only costs a look at the relevant rules.
_KEY_ENDINGS = r"(?i:ord|swd|pwd|ass|ase|ret|ken|key|uth|ial|als|lue|ing|ext)"
_KEY_LAST = "[dstnyhlegDSTNYHLEG]"
_KEY_SEPARATOR = "[\"'\\] ]"


def _rarity(char: str) -> float:
    if char in string.ascii_uppercase:
        return 1 + (len(_LETTER_FREQUENCY) - _LETTER_FREQUENCY.index(char.lower())) / 100
    if char in string.ascii_lowercase:
        # Even the rarest lower-case letter ranks below capitals: prose is lower case.
        return 2 + (len(_LETTER_FREQUENCY) - _LETTER_FREQUENCY.index(char)) / 100
    if char in string.digits:
        return 4
    if char.isspace():
        return 9
    return 0


def _structural() -> list[tuple[str, str, str]]:
    """(anchor character, continuation regex, category) for the non-literal triggers."""
    triggers = [
        ("%", "[0-9A-Fa-f]{2}", PERCENT),
        # The userinfo may be split by spaces (a disguise), so allow them, boundedly.
        ("/", r"(?<=://)[^/?#@]{0,64}+@", URL),
        ("-", r"(?<=[0-9a-f]{32}-)", HEX_DASH),
        ("-", r"(?<=--)(?i:pass|pwd|token|secret|api|auth|client)", FLAG),
    ]
    for operator in map(re.escape, ("=", ":")):
        # The cheap one-character look first: ARNs and URLs have many colons, and the
        # character before nearly all of them cannot end a key name.
        triggers.append(
            (operator, f"(?<={_KEY_LAST}{operator})(?<={_KEY_ENDINGS}{operator})", ASSIGN)
        )
        spaced = "|".join(
            f"(?<={_KEY_ENDINGS}{_KEY_SEPARATOR}{{{width}}}{operator})" for width in (1, 2, 3)
        )
        triggers.append((operator, f"(?<={_KEY_SEPARATOR}{operator})(?:{spaced})", ASSIGN))
    # A long run with a capital followed (within 64 characters) by a lower-case letter and
    # a digit or `+`: anchored at the capital, consume the rest of the run, then look
    # back 16 characters. Runs without capitals (hex digests, UUIDs, k8s names), without
    # digits (CamelCase names like AdministratorAccess) or without lower case (ticket keys
    # in URLs: browse/SEC-2452) never trigger; random tokens nearly always have all three.
    run = (
        f"(?=[A-Z0-9+/_-]{{0,64}}+[a-z])(?=[A-Za-z/_-]{{0,64}}+[0-9+])"
        f"{_RUN_CHAR}*+(?<={_RUN_CHAR}{{16}})"
    )
    triggers += [(upper, run, RUN) for upper in string.ascii_uppercase]
    # Base64 padding after 16 base64 characters: encoded text without a digit or `+`.
    triggers.append(("=", "(?<=[A-Za-z0-9+/]{16}=)(?![A-Za-z0-9+/])", RUN))
    return triggers


@dataclass(frozen=True)
class Prefilter:
    regex: re.Pattern[str]
    names: dict[str, frozenset[str]]
    """Marker group -> the trigger names it stands for (literals or categories)."""

    def search(self, text: str) -> bool:
        return self.regex.search(text) is not None

    def triggers(self, text: str) -> set[str]:
        """Every trigger name seen in `text` (empty: nothing can match)."""
        names: set[str] = set()
        for match in self.regex.finditer(text):
            names |= self.names[match.lastgroup or ""]
        return names


def build(literals: Iterable[str], *, structural: bool = True) -> Prefilter:
    """One alternation over every trigger, grouped by anchor character."""
    by_anchor: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    # Literals with the same anchor, lookbehind width and continuation share one
    # lookbehind alternation, which the engine checks in one step per branch.
    grouped: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for literal in sorted(set(literals)):
        # The rarest character anchors; among equals the last, to keep the tail short.
        index = min(range(len(literal)), key=lambda i: (_rarity(literal[i]), -i))
        before, anchor, after = literal[:index], literal[index], literal[index + 1 :]
        grouped[(anchor, len(before), after)].append(literal)
    for (anchor, width, after), group in sorted(grouped.items()):
        behind = "|".join(sorted(re.escape(literal[: width + 1]) for literal in group))
        continuation = (f"(?<={behind})" if width else "") + re.escape(after)
        by_anchor[anchor].append((continuation, frozenset(group)))
    if structural:
        for anchor, continuation, category in _structural():
            by_anchor[anchor].append((continuation, frozenset({category})))
    names: dict[str, frozenset[str]] = {}
    branches = []
    for anchor, continuations in sorted(by_anchor.items()):
        alternatives = []
        for continuation, trigger_names in continuations:
            marker = f"t{len(names)}"
            names[marker] = trigger_names
            alternatives.append(f"{continuation}(?P<{marker}>)")
        branches.append(re.escape(anchor) + "(?:" + "|".join(alternatives) + ")")
    return Prefilter(re.compile("|".join(branches)), names)
