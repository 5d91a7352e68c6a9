"""Owner suggestions: configurable rules point unowned imported paths at a team; the
path page shows it and preselects it for a member claiming; a person confirms it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from registry.importers.formats import READERS
from registry.models import AccessPath, ImportRun
from registry.rules.actors import Actor
from registry.rules.owner_suggestions import (
    CONDITIONS,
    HINTS,
    OwnerRulesError,
    check_owner_rules,
    facts_for,
    load_rules,
    suggest,
)
from registry.services.import_queue import import_queue, import_run_queued

SAMPLES = Path(__file__).parents[1] / "samples"
RULES = [
    {"team": "payments", "namespace": "payments*"},
    {"team": "data", "name_prefix": "etl-"},
    {"team": "growth", "created_by": "gha-growth-*", "steward": "platform"},
    {"team": "nobody-has-this-slug", "name_prefix": "orphan-"},
]
GCP_ETL_KEY = (
    "projects/acme-data-staging/serviceAccounts/"
    "etl-loader@acme-data-staging.iam.gserviceaccount.com/keys/"
    "b71e08d2c94f3a6510e7d2b4c8a9f06e3d5b1c72"
)


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


CONDITIONS_TEXT = ", ".join(CONDITIONS)
MALFORMED = [
    ({"rules": 1}, "NHI_OWNER_RULES must be a JSON list of rules, not an object."),
    (["payments"], "NHI_OWNER_RULES rule 1: must be a JSON object such as"),
    ([{"name_prefix": "x"}], 'NHI_OWNER_RULES rule 1: needs a "team" (a team\'s slug).'),
    (
        [{"team": "data", "name_prefix": "etl-"}, {"team": "t"}],
        f"NHI_OWNER_RULES rule 2 (team t): needs at least one condition, one of: "
        f"{CONDITIONS_TEXT}.",
    ),
    (
        [{"team": "t", "colour": "red"}],
        f"NHI_OWNER_RULES rule 1 (team t): unknown condition(s) colour; the conditions are: "
        f"{CONDITIONS_TEXT}.",
    ),
    (
        [{"team": "t", "namespace": ["a", "b"]}],
        "NHI_OWNER_RULES rule 1 (team t): namespace must be a non-empty string pattern, "
        "not a list.",
    ),
    (
        [{"team": "t", "account": 123456789012}],
        "NHI_OWNER_RULES rule 1 (team t): account must be a non-empty string pattern, "
        "not a number (123456789012).",
    ),
    (
        [{"team": "t", "app_id": ""}],
        "NHI_OWNER_RULES rule 1 (team t): app_id must be a non-empty string pattern, "
        "not a string ('').",
    ),
]


@pytest.mark.parametrize(("bad", "message"), MALFORMED)
def test_malformed_rules_are_refused_naming_the_rule_and_the_problem(bad, message):
    with pytest.raises(OwnerRulesError) as exc:
        load_rules(bad)
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize(("bad", "message"), MALFORMED[:3])
def test_a_malformed_rule_is_a_command_error_and_imports_nothing(settings, db, bad, message):
    settings.NHI_OWNER_RULES = bad

    with pytest.raises(CommandError) as exc:
        call_command(
            "import_paths", str(SAMPLES / "k8s-serviceaccounts.json"), "--format",
            "k8s-serviceaccounts", "--no-progress", stdout=io.StringIO(),
        )  # fmt: skip

    assert str(exc.value).startswith(message)
    assert str(exc.value).endswith("Nothing was imported.")
    assert not ImportRun.objects.exists() and not AccessPath.objects.exists()


def test_a_malformed_rule_refuses_an_upload_and_an_api_import(settings, client, personas):
    settings.NHI_OWNER_RULES = [{"team": "t", "colour": "red"}]
    message = "NHI_OWNER_RULES rule 1 (team t): unknown condition(s) colour"
    client.force_login(personas.users.sam)

    def upload() -> SimpleUploadedFile:
        body = (SAMPLES / "k8s-serviceaccounts.json").read_bytes()
        return SimpleUploadedFile("sa.json", body, content_type="application/json")

    page = client.post(
        reverse("registry:import-list"),
        {"file": upload(), "format": "k8s-serviceaccounts", "steward_team": "platform"},
    )
    api = client.post("/api/v1/imports/", {"file": upload(), "format": "k8s-serviceaccounts"})

    assert page.status_code == 503 and message in page.content.decode()
    assert api.status_code == 503 and message in api.content.decode()
    assert "Nothing was queued." in api.content.decode()
    assert not ImportRun.objects.exists()


def test_rules_broken_after_an_upload_fail_its_run_saying_why(settings, personas):
    run = import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=[(SAMPLES / "k8s-serviceaccounts.json").read_bytes()],
        file_name="sa.json",
        source_format="k8s-serviceaccounts",
    )
    settings.NHI_OWNER_RULES = [{"team": "t", "colour": "red"}]

    report = import_run_queued(run_id=str(run.pk))

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    (error,) = run.errors
    assert error["line"] == 0
    assert error["errors"][0].startswith("NHI_OWNER_RULES rule 1 (team t): unknown condition")
    assert report.errors == run.errors and not AccessPath.objects.exists()


def test_a_malformed_rule_fails_the_system_check(settings):
    settings.NHI_OWNER_RULES = [{"team": "t", "colour": "red"}]

    (error,) = check_owner_rules()

    assert error.id == "registry.E001" and error.level == checks.ERROR
    assert error.msg.startswith("NHI_OWNER_RULES rule 1 (team t): unknown condition(s) colour")
    settings.NHI_OWNER_RULES = RULES
    assert check_owner_rules() == []
    assert any(c.__name__ == "check_owner_rules" for c in checks.registry.registry.get_checks())


def test_invalid_json_is_refused_when_the_settings_load(monkeypatch):
    from config.env import env_json

    monkeypatch.setenv("NHI_OWNER_RULES", '[{"team": "payments",}]')
    with pytest.raises(ImproperlyConfigured, match="NHI_OWNER_RULES must be JSON: Expecting"):
        env_json("NHI_OWNER_RULES", [])


# Each reader's sample and the hints its rows carry (documented in the reader).
READER_SAMPLES = {
    "aws-credential-report": "aws-credential-report.csv",
    "aws-access-keys": "aws-access-keys-users.json",
    "gcp-sa-keys": "gcp-sa-keys.json",
    "github-pat-grants": "github-pat-grants.json",
    "k8s-serviceaccounts": "k8s-serviceaccounts.json",
    "entra-app-credentials": "entra-app-credentials.json",
}


def test_every_source_reader_has_a_sample_here():
    assert set(READER_SAMPLES) == set(READERS) - {"csv", "json"}


@pytest.mark.parametrize("fmt", READER_SAMPLES)
def test_every_hint_a_reader_gives_is_a_rule_condition(fmt):
    with (SAMPLES / READER_SAMPLES[fmt]).open("rb") as source:
        keys = {key for row in READERS[fmt](source) for key in row.hints}
    assert keys
    # The AWS readers' `name` hint is the path's name, which `name` matches.
    assert keys <= set(HINTS) | {"name"}
    assert keys <= set(CONDITIONS)


@pytest.mark.parametrize(
    ("fmt", "rule", "suggested", "reason"),
    [
        (
            "aws-credential-report",
            {"iam_path": "/teams/payments/*", "account": "123456789012"},
            {"arn:aws:iam::123456789012:user/teams/payments/billing-export"},
            "matches iam path /teams/payments/* and account 123456789012",
        ),
        (
            "aws-credential-report",
            {"name": "*-bot"},
            {"arn:aws:iam::123456789012:user/reporting-bot"},
            "matches name *-bot",
        ),
        (
            "gcp-sa-keys",
            {"service_account": "etl-loader@*"},
            {GCP_ETL_KEY},
            "matches service account etl-loader@*",
        ),
        (
            "k8s-serviceaccounts",
            {"helm_release": "billing", "managed_by": "helm"},
            {"payments-prod/billing-export"},
            "matches helm release billing and managed by helm",
        ),
        (
            "entra-app-credentials",
            {"app_id": "c4d5e6f7-*"},
            {"c4d5e6f7-a8b9-4c0d-1e2f-3a4b5c6d7e8f/9d4e5f6a-7b8c-4d9e-1f0a-2b3c4d5e6f7a"},
            "matches app id c4d5e6f7-*",
        ),
        (
            "github-pat-grants",
            {"owner": "hubot", "repository_selection": "all"},
            {"github-pat-grant:25390"},
            "matches owner hubot and repository selection all",
        ),
    ],
)
def test_rules_on_every_readers_hints_suggest_an_owner(
    settings, personas, fmt, rule, suggested, reason
):
    settings.NHI_OWNER_RULES = [{"team": "payments", **rule}]

    call_command(
        "import_paths", str(SAMPLES / READER_SAMPLES[fmt]), "--format", fmt, "--team",
        "platform", "--no-progress", "--partial", stdout=io.StringIO(),
    )  # fmt: skip

    found = AccessPath.objects.filter(suggested_owner__slug="payments")
    assert set(found.values_list("external_id", flat=True)) == suggested
    assert set(found.values_list("suggestion_reason", flat=True)) == {reason}


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
