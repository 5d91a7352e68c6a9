"""The scanners' intake (registry.services.incident_intake): GitHub's webhook signature
check. The intakes themselves, over HTTP: tests/api/test_incident_intake.py."""

from __future__ import annotations

from registry.services.incident_intake import github_signature_ok

GITHUB_EXAMPLE_SECRET = "It's a Secret to Everybody"  # GitHub's documented example secret


def test_the_signature_in_githubs_documentation_verifies():
    # docs.github.com "Validating webhook deliveries": secret and body from the example.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github_signature_ok(secret=GITHUB_EXAMPLE_SECRET, body=b"Hello, World!", header=expected)
    assert not github_signature_ok(secret="other", body=b"Hello, World!", header=expected)
