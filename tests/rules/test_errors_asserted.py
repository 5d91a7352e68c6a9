"""Every message constant of registry/rules/errors.py is asserted by some test: a
message nobody checks drifts (or stops being raised) unnoticed. A new constant needs a
test that triggers it through the real service, API or page and names it
(tests/services/test_error_messages*.py); a constant no code raises any more is deleted."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from registry.rules import errors

TESTS = Path(__file__).resolve().parents[1]


def message_constants() -> list[str]:
    """The UPPER_CASE string constants errors.py defines."""
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            continue
        if isinstance(node.value.value, str):
            names += [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()]
    return names


def test_errors_py_has_message_constants():
    names = message_constants()
    assert len(names) > 50
    assert all(isinstance(getattr(errors, name), str) for name in names)


def test_every_message_constant_is_mentioned_by_a_test():
    this = Path(__file__).resolve()
    texts = [
        path.read_text(encoding="utf-8") for path in TESTS.rglob("*.py") if path.resolve() != this
    ]
    unasserted = [
        name
        for name in message_constants()
        if not any(re.search(rf"\b{name}\b", text) for text in texts)
    ]
    assert not unasserted, (
        "These registry/rules/errors.py messages are asserted by no test under tests/: "
        f"{', '.join(unasserted)}. Trigger each through its service, API or page and "
        "assert the message (tests/services/test_error_messages*.py), or delete it if "
        "nothing raises it."
    )
