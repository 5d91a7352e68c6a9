"""SCIM filter expressions (RFC 7644 3.4.2.2), the subset provisioning clients send:
`attr op value` comparisons joined by `and`, ops eq ne co sw ew pr. Entra ID and Okta
send `userName eq "x"`, `externalId eq "x"`, `displayName eq "x"` and, in PATCH paths,
`members[value eq "x"]`."""

from __future__ import annotations

import json
import re

from registry.selectors.scim import MAX_FILTER_LENGTH, Comparison, FilterError

__all__ = ["FilterError", "matches", "parse_filter"]

OPS = frozenset({"eq", "ne", "co", "sw", "ew", "pr"})
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[A-Za-z0-9_:.$\-]+))\s*', re.DOTALL
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"Cannot read the filter at {text[pos : pos + 20]!r}.")
        kind = "string" if match.group("string") is not None else "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _value(kind: str, raw: str) -> object:
    if kind == "string":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise FilterError("A quoted value is malformed.") from exc
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return json.loads(raw)
    raise FilterError(f"Quote the value {raw!r}.")


def parse_filter(text: str) -> list[Comparison]:
    """The comparisons, all of which must hold."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    tokens = _tokens(text.strip())
    if not tokens:
        raise FilterError("The filter is empty.")
    comparisons, i = [], 0
    while True:
        if i + 1 >= len(tokens) or tokens[i][0] != "word":
            raise FilterError("Expected `attribute operator value`.")
        attribute, op = tokens[i][1], tokens[i + 1][1].lower()
        if op not in OPS:
            raise FilterError(f"The operator {tokens[i + 1][1]!r} is not supported.")
        attribute = _strip_urn(attribute)
        if op == "pr":
            comparisons.append(Comparison(attribute, op, None))
            i += 2
        else:
            if i + 2 >= len(tokens):
                raise FilterError(f"The operator {op!r} needs a value.")
            comparisons.append(Comparison(attribute, op, _value(*tokens[i + 2])))
            i += 3
        if i == len(tokens):
            return comparisons
        if tokens[i] != ("word", tokens[i][1]) or tokens[i][1].lower() != "and":
            raise FilterError("Only `and` joins comparisons here.")
        i += 1


def _strip_urn(attribute: str) -> str:
    """`urn:ietf:params:scim:schemas:core:2.0:User:userName` -> `userName`."""
    if attribute.lower().startswith("urn:"):
        return attribute.rsplit(":", 1)[-1]
    return attribute


def matches(item: dict, comparisons: list[Comparison]) -> bool:
    """Whether a multi-valued attribute's item (a dict) satisfies a value filter, as in
    PATCH paths `members[value eq "42"]` and `emails[type eq "work"]`."""
    lowered = {str(k).lower(): v for k, v in item.items()}
    for comparison in comparisons:
        have = lowered.get(comparison.attribute.lower())
        want = comparison.value
        if comparison.op == "pr":
            ok = have not in (None, "", [])
        elif isinstance(have, str) and isinstance(want, str):
            a, b = have.lower(), want.lower()
            ok = {
                "eq": a == b,
                "ne": a != b,
                "co": b in a,
                "sw": a.startswith(b),
                "ew": a.endswith(b),
            }[comparison.op]
        else:
            ok = (have == want) if comparison.op != "ne" else (have != want)
        if not ok:
            return False
    return True
