"""Owner suggestions: configurable rules point unowned imported paths at a team; the
path page shows it and preselects it for a member claiming; a person confirms it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from registry.models import AccessPath
from registry.suggestions import facts_for, load_rules, suggest

SAMPLES = Path(__file__).parent / "samples"
RULES = [
    {"team": "payments", "namespace": "payments*"},
    {"team": "data", "name_prefix": "etl-"},
    {"team": "growth", "created_by": "gha-growth-*", "steward": "platform"},
    {"team": "nobody-has-this-slug", "name_prefix": "orphan-"},
]


def facts(**overrides) -> dict:
    base = {"name": "x", "created_by": "", "steward": "", "hints": {}}
    base.update(overrides)
    return facts_for(**base)


def test_first_matching_rule_wins_and_says_why():
    rules = load_rules(RULES)
    assert suggest(rules, facts(hints={"namespace": "payments-prod"})) == (
        "payments",
        "matches namespace payments*",
    )
    assert suggest(rules, facts(name="ETL-loader")) == ("data", "matches name prefix etl-")
    assert suggest(rules, facts(created_by="gha-growth-17", steward="platform")) == (
        "growth",
        "matches created by gha-growth-* and steward platform",
    )
    # Every condition of a rule must hold.
    assert suggest(rules, facts(created_by="gha-growth-17", steward="security")) is None
    assert suggest(rules, facts(name="billing")) is None


@pytest.mark.parametrize(
    "bad",
    [{"rules": 1}, [{"name_prefix": "x"}], [{"team": "t"}], [{"team": "t", "colour": "red"}]],
)
def test_malformed_rules_are_refused(bad):
    with pytest.raises(ValueError, match="NHI_OWNER_RULES"):
        load_rules(bad)


def test_imported_unowned_paths_get_the_suggestion(settings, personas, client):
    settings.NHI_OWNER_RULES = RULES
    call_command(
        "import_paths", str(SAMPLES / "k8s-serviceaccounts.json"), "--format",
        "k8s-serviceaccounts", "--team", "platform", "--no-progress",
    )  # fmt: skip
    paths = AccessPath.objects.all()
    assert paths.exists()
    for path in paths:
        namespace = path.external_id.split("/")[0]
        if namespace.startswith("payments"):
            assert path.suggested_owner == personas.teams.payments
            assert path.suggestion_reason == "matches namespace payments*"
        else:
            assert path.suggested_owner is None and path.suggestion_reason == ""
    suggested = paths.filter(suggested_owner__isnull=False).first()
    assert suggested is not None, "the sample lists a service account in payments-prod"
    client.force_login(personas.users.pat)
    page = client.get(reverse("registry:path-detail", args=[suggested.pk])).content.decode()
    assert "Suggested owner" in page and "matches namespace payments*" in page
    assert '<option value="payments" selected>' in page
    # The rules change: the next import follows them.
    settings.NHI_OWNER_RULES = []
    call_command(
        "import_paths", str(SAMPLES / "k8s-serviceaccounts.json"), "--format",
        "k8s-serviceaccounts", "--team", "platform", "--no-progress",
    )  # fmt: skip
    suggested.refresh_from_db()
    assert suggested.suggested_owner is None


def test_the_rules_come_from_the_environment(monkeypatch):
    from config.env import env_json

    monkeypatch.setenv("NHI_OWNER_RULES", json.dumps(RULES))
    assert load_rules(env_json("NHI_OWNER_RULES", [])) == load_rules(RULES)
