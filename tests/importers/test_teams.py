"""The team readers (registry.importers.teams): Backstage entity references, and the
slug and kind a group becomes."""

from __future__ import annotations

import pytest

from registry.importers.teams import EntityRef, parse_ref, team_kind, team_slug


@pytest.mark.parametrize(
    ("value", "default_kind", "default_namespace", "expected"),
    [
        ("checkout", "group", "default", ("group", "default", "checkout")),
        ("user:ben", "group", "default", ("user", "default", "ben")),
        ("user:default/ben", "group", "sec", ("user", "default", "ben")),
        ("appsec", "group", "sec", ("group", "sec", "appsec")),
        ("ops/sre", "group", "default", ("group", "ops", "sre")),
        ("Group:Default/Checkout", "group", "default", ("group", "default", "checkout")),
        ({"kind": "Group", "namespace": "sec", "name": "appsec"}, "user", "x",
         ("group", "sec", "appsec")),
        ({"name": "ben"}, "user", "default", ("user", "default", "ben")),
        ("", "group", "default", None),
        ("group:", "group", "default", None),
        ("group:default/", "group", "default", None),
        ("bad name!", "group", "default", None),
        (42, "group", "default", None),
    ],
)  # fmt: skip
def test_parse_ref_fills_defaults_and_compares_lowercase(
    value, default_kind, default_namespace, expected
):
    ref = parse_ref(value, default_kind=default_kind, default_namespace=default_namespace)

    assert ref == (EntityRef(*expected) if expected else None)


@pytest.mark.parametrize(
    ("namespace", "name", "slug"),
    [
        ("default", "payments", "payments"),
        ("Default", "Payments", "payments"),
        ("sec", "appsec", "sec-appsec"),
        ("default", "billing.v2", "billing-v2"),
        ("default", "data_eng", "data_eng"),
    ],
)
def test_team_slug_is_the_name_or_namespace_and_name(namespace, name, slug):
    assert team_slug(namespace, name) == slug


@pytest.mark.parametrize(
    ("spec_type", "name", "kind"),
    [
        ("team", "checkout", "product"),
        ("product-area", "fraud", "product"),
        ("squad", "mobile", "product"),
        ("team", "cloud-platform", "platform"),
        ("platform", "infra", "platform"),
        # A name alone never grants the security kind (its members review everything).
        ("team", "security-champions", "product"),
        ("security", "appsec", "security"),
        ("business-unit", "engineering", "other"),
        ("root", "acme", "other"),
        ("", "misc", "other"),
    ],
)
def test_team_kind_from_type_and_name(spec_type, name, kind):
    assert team_kind(spec_type, name) == kind
