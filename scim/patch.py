"""SCIM PATCH (RFC 7644 3.5.2) applied to a resource's current representation; the
result is then read like a PUT body, so a PATCH and a PUT reach the services the same
way and are validated once.

What Entra ID and Okta send, all handled: ops in any case ("Replace"); no path with a
value object whose keys may themselves be paths ("name.givenName"); booleans as
strings; `emails[type eq "work"].value`; group members added as a list, removed by
`members[value eq "42"]` or by path `members` with a value list."""

from __future__ import annotations

import re
from typing import Any

from scim.filters import FilterError, matches, parse_filter

_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)
OPS = frozenset({"add", "remove", "replace"})


class PatchError(ValueError):
    def __init__(self, message: str, scim_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.scim_type = scim_type


def _key(doc: dict, attr: str, known: dict[str, str]) -> str | None:
    """The document's own key for `attr` (case-insensitive), or its canonical name;
    None for an attribute this server does not keep (ignored)."""
    lowered = attr.lower()
    for key in doc:
        if key.lower() == lowered:
            return key
    return known.get(lowered)


def _strip_urn(path: str) -> str:
    if path.lower().startswith("urn:"):
        # `urn:...:2.0:User:name.givenName` -> `name.givenName`
        return path.rsplit(":", 1)[-1]
    return path


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict) and "value" in a and "value" in b:
        return str(a["value"]) == str(b["value"])
    return a == b


def _apply_one(doc: dict, op: str, path: str, value: Any, known: dict[str, str]) -> None:
    match = _PATH.match(_strip_urn(path).strip())
    if match is None:
        raise PatchError(f"Cannot read the path {path!r}.", "invalidPath")
    key = _key(doc, match["attr"], known)
    if key is None:
        return
    try:
        selector = parse_filter(match["filter"]) if match["filter"] is not None else None
    except FilterError as exc:
        raise PatchError(str(exc), "invalidFilter") from exc
    sub = match["sub"]
    current = doc.get(key)

    if selector is not None:
        items = current if isinstance(current, list) else []
        hits = [item for item in items if isinstance(item, dict) and matches(item, selector)]
        if op == "remove":
            if sub is None:
                doc[key] = [item for item in items if not any(item is h for h in hits)]
            else:
                for item in hits:
                    item.pop(sub, None)
            return
        if not hits:
            if op == "replace" and sub is None:
                raise PatchError(f"No value of {path!r} matches.", "noTarget")
            # `emails[type eq "work"].value` on a user with no work email yet: create it
            # from the filter's own equality (what Entra ID expects).
            item = {c.attribute: c.value for c in selector if c.op == "eq"}
            items.append(item)
            doc[key] = items
            hits = [item]
        for item in hits:
            if sub is not None:
                item[sub] = value
            elif isinstance(value, dict):
                item.update(value)
        return

    if sub is not None:
        target = current if isinstance(current, dict) else {}
        sub_key = next((k for k in target if k.lower() == sub.lower()), sub)
        if op == "remove":
            target.pop(sub_key, None)
        else:
            target[sub_key] = value
        doc[key] = target
        return

    if op == "remove":
        if isinstance(current, list) and isinstance(value, list):
            doc[key] = [item for item in current if not any(_same(item, v) for v in value)]
        else:
            doc.pop(key, None)
        return
    if op == "add" and isinstance(current, list):
        additions = value if isinstance(value, list) else [value]
        doc[key] = current + [v for v in additions if not any(_same(v, c) for c in current)]
    elif op == "add" and isinstance(current, dict) and isinstance(value, dict):
        current.update(value)
    else:
        doc[key] = value


def apply_patch(
    doc: dict, body: Any, known: dict[str, str], required: frozenset[str] = frozenset()
) -> dict:
    """`doc` changed by the PatchOp `body`. `known`: lower-case attribute -> canonical
    name, for the attributes the resource keeps; `required` (lower-case): attributes a
    remove may not unassign."""
    if not isinstance(body, dict):
        raise PatchError("Expected a PatchOp object.", "invalidSyntax")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise PatchError("Operations must be a non-empty list.", "invalidSyntax")
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError("Each operation must be an object.", "invalidSyntax")
        fields = {str(k).lower(): v for k, v in operation.items()}
        op = str(fields.get("op", "")).lower()
        if op not in OPS:
            raise PatchError("op must be add, remove or replace.", "invalidSyntax")
        path, value = fields.get("path"), fields.get("value")
        if path is not None and not isinstance(path, str):
            raise PatchError("path must be a string.", "invalidPath")
        if path:
            if op == "remove" and _strip_urn(path).strip().lower() in required:
                raise PatchError(f"{path} is required: it cannot be removed.", "invalidValue")
            if op != "remove" and "value" not in fields:
                raise PatchError(f"The {op} operation needs a value.", "invalidValue")
            _apply_one(doc, op, path, value, known)
        elif op == "remove":
            raise PatchError("A remove operation needs a path.", "noTarget")
        elif isinstance(value, dict):
            for attr, attr_value in value.items():
                _apply_one(doc, op, attr, attr_value, known)
        else:
            raise PatchError("Without a path, the value must be an object.", "invalidValue")
    return doc
