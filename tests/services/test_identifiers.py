"""Credential identifiers: normalised, unique where they name one credential, never a
credential themselves, retired not deleted, audited; set through the API, the edit
page and every importer (AWS access-key listings included)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from registry import services
from registry.importers import aws_access_keys
from registry.importers.formats import READERS
from registry.models import AccessPath, AuditEvent, CredentialIdentifier
from registry.rules import errors
from registry.rules.errors import Invalid, InvalidTransition, NotAllowed
from registry.services.identifiers import identifiers_set, normalise, parse_text
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parents[1] / "samples"
FP = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
KEY = "AKIAIOSFODNN7EXAMPLE"
# A GitHub personal access token shape (a test value, not a live token).
GH_TOKEN = "ghp_" + "R8sYmZ3kVq2LwT9pXc4NbH6dJf1GaE0uKi7o"


def live(path) -> list[tuple[str, str]]:
    qs = CredentialIdentifier.objects.filter(path=path, retired_at__isnull=True)
    return sorted(qs.values_list("kind", "value"))


# --- normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("key_id", f"  {KEY} ", ("key_id", KEY)),
        ("fingerprint", f"SHA256:{FP.upper()}", ("fingerprint", FP)),
        ("fingerprint", FP, ("fingerprint", FP)),
        (
            "principal",
            "arn:aws:iam::123456789012:user/ci",
            ("principal", "arn:aws:iam::123456789012:user/ci"),
        ),
        (
            "principal",
            "system:serviceaccount:ns:app",
            ("principal", "system:serviceaccount:ns:app"),
        ),
        (
            "client_id",
            "11111111-2222-3333-4444-555555555555",
            ("client_id", "11111111-2222-3333-4444-555555555555"),
        ),
        ("KEY_ID", KEY, ("key_id", KEY)),
    ],
)
def test_values_are_normalised(kind, value, stored):
    assert normalise(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("password", "x", errors.IDENTIFIER_KIND.format(kind="password")),
        ("key_id", "  ", errors.IDENTIFIER_EMPTY),
        ("fingerprint", "abc", errors.IDENTIFIER_FINGERPRINT),
        ("fingerprint", "sha1:" + FP, errors.IDENTIFIER_FINGERPRINT),
        ("key_id", "x" * 501, errors.IDENTIFIER_TOO_LONG),
    ],
)
def test_bad_values_are_refused(kind, value, message):
    with pytest.raises(Invalid) as exc:
        normalise(kind, value)
    assert exc.value.errors == {"identifiers": [message]}


def test_a_credential_is_never_an_identifier():
    with pytest.raises(Invalid) as exc:
        normalise("key_id", GH_TOKEN)
    message = exc.value.errors["identifiers"][0]
    assert message.startswith("This looks like a credential (")
    assert GH_TOKEN not in message


def test_text_form_keeps_colons_in_values():
    assert parse_text("principal:arn:aws:iam::1:user/x\n\nkey_id:" + KEY) == [
        ("key_id", KEY),
        ("principal", "arn:aws:iam::1:user/x"),
    ]
    with pytest.raises(Invalid):
        parse_text("no-kind-here")


# --- the service ----------------------------------------------------------------------


def test_set_adds_retires_and_audits(personas, path):
    identifiers_set(
        actor=personas.pat,
        path=path,
        identifiers=[{"kind": "key_id", "value": KEY}, {"kind": "fingerprint", "value": FP}],
        now=NOW,
    )
    assert live(path) == [("fingerprint", FP), ("key_id", KEY)]
    later = NOW + dt.timedelta(hours=1)
    identifiers_set(
        actor=personas.pat, path=path, identifiers=[{"kind": "key_id", "value": KEY}], now=later
    )
    assert live(path) == [("key_id", KEY)]
    retired = CredentialIdentifier.objects.get(kind="fingerprint")
    assert retired.retired_at == later  # kept, not deleted
    events = AuditEvent.objects.filter(path=path, action="access_path.identifiers_changed")
    assert [e.changes["identifiers"] for e in events.order_by("seq")] == [
        [[], [f"fingerprint:{FP}", f"key_id:{KEY}"]],
        [[f"fingerprint:{FP}", f"key_id:{KEY}"], [f"key_id:{KEY}"]],
    ]
    # the same set again writes nothing
    identifiers_set(
        actor=personas.pat, path=path, identifiers=[{"kind": "key_id", "value": KEY}], now=later
    )
    assert events.count() == 2
    # a retired value can be registered again (the uniqueness is among live ones)
    identifiers_set(
        actor=personas.pat, path=path, identifiers=[("fingerprint", FP), ("key_id", KEY)], now=later
    )
    assert CredentialIdentifier.objects.filter(kind="fingerprint").count() == 2


def test_who_may_set_is_who_may_edit(personas, path):
    for actor in (personas.dana, personas.otto):
        with pytest.raises(NotAllowed):
            identifiers_set(actor=actor, path=path, identifiers=[("key_id", KEY)], now=NOW)
    identifiers_set(actor=personas.payments_ci, path=path, identifiers=[("key_id", KEY)], now=NOW)
    assert live(path) == [("key_id", KEY)]


@pytest.mark.parametrize("kind", ["key_id", "fingerprint"])
def test_a_key_id_or_fingerprint_on_another_path_is_a_409(personas, make_path, kind):
    value = KEY if kind == "key_id" else FP
    theirs = make_path(owner_team=personas.teams.data)
    identifiers_set(actor=personas.sam, path=theirs, identifiers=[(kind, value)], now=NOW)
    mine = make_path()
    with pytest.raises(InvalidTransition) as exc:
        identifiers_set(actor=personas.pat, path=mine, identifiers=[(kind, value)], now=NOW)
    assert exc.value.message == errors.IDENTIFIER_TAKEN
    assert str(theirs.pk) not in exc.value.message and theirs.name not in exc.value.message
    assert live(mine) == []


@pytest.mark.parametrize("kind", ["principal", "client_id"])
def test_a_principal_or_client_id_may_name_several_paths(personas, make_path, kind):
    one, two = make_path(), make_path()
    for path in (one, two):
        identifiers_set(actor=personas.pat, path=path, identifiers=[(kind, "ci@p.iam")], now=NOW)
    assert live(one) == live(two) == [(kind, "ci@p.iam")]


def test_register_and_update_take_identifiers(personas, make_path):
    path = make_path(identifiers=[{"kind": "key_id", "value": KEY}])
    assert live(path) == [("key_id", KEY)]
    services.path_update(
        actor=personas.pat,
        path=path,
        changes={"identifiers": [{"kind": "fingerprint", "value": FP}]},
        now=NOW,
    )
    assert live(path) == [("fingerprint", FP)]


# --- the API --------------------------------------------------------------------------


@pytest.fixture
def api(personas):
    client = APIClient()
    client.force_login(personas.users.pat)
    return client


def test_api_shows_and_sets_identifiers(api, path):
    url = reverse("access-path-detail", args=[path.pk])
    body = {
        "identifiers": [
            {"kind": "key_id", "value": KEY},
            {"kind": "fingerprint", "value": "sha256:" + FP},
        ]
    }
    response = api.patch(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["identifiers"] == [
        {"kind": "fingerprint", "value": FP},
        {"kind": "key_id", "value": KEY},
    ]
    assert api.get(url).json()["identifiers"] == response.json()["identifiers"]


def test_api_refusals(api, personas, make_path, path):
    url = reverse("access-path-detail", args=[path.pk])
    bad = api.patch(url, {"identifiers": [{"kind": "key_id", "value": GH_TOKEN}]}, format="json")
    assert bad.status_code == 400
    assert GH_TOKEN not in bad.content.decode()
    theirs = make_path(owner_team=personas.teams.data)
    identifiers_set(actor=personas.sam, path=theirs, identifiers=[("key_id", KEY)], now=NOW)
    taken = api.patch(url, {"identifiers": [{"kind": "key_id", "value": KEY}]}, format="json")
    assert taken.status_code == 409
    assert taken.json()["detail"] == errors.IDENTIFIER_TAKEN


def test_api_create_and_register_take_identifiers(api):
    body = {
        "name": "ci-deployer",
        "kind": "service_account",
        "system": "aws",
        "external_id": "arn:aws:iam::123456789012:user/ci-deployer",
        "environment": "prod",
        "identifiers": [{"kind": "key_id", "value": KEY}],
    }
    response = api.post(reverse("access-path-register"), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["identifiers"] == [{"kind": "key_id", "value": KEY}]


def test_api_list_queries_do_not_grow_with_identifiers(api, personas, make_path):
    make_path(identifiers=[("key_id", KEY)])
    url = reverse("access-path-list") + "?page_size=50"
    with CaptureQueriesContext(connection) as one:
        assert api.get(url).status_code == 200
    for i in range(5):
        make_path(
            identifiers=[("key_id", f"AKIAZZZZZZZZZZZZZZ{i:02d}"), ("fingerprint", f"{i}" * 64)]
        )
    with CaptureQueriesContext(connection) as many:
        response = api.get(url)
    assert len(response.json()["results"]) == 6
    assert len(many) == len(one)


# --- the pages ------------------------------------------------------------------------


def test_edit_page_sets_identifiers_and_detail_shows_them(client, personas, path):
    client.force_login(personas.users.pat)
    edit = reverse("registry:path-edit", args=[path.pk])
    page = client.get(edit)
    assert page.status_code == 200
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data |= {"identifiers": f"key_id:{KEY}\nfingerprint:sha256:{FP}", "version": path.version}
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(edit, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert live(path) == [("fingerprint", FP), ("key_id", KEY)]
    detail = client.get(reverse("registry:path-detail", args=[path.pk])).content.decode()
    assert f"key_id:{KEY}" in detail and f"fingerprint:{FP}" in detail

    data["identifiers"] = f"key_id:{GH_TOKEN}"
    refused = client.post(edit, data)
    assert refused.status_code == 400
    assert GH_TOKEN not in refused.content.decode()


# --- imports --------------------------------------------------------------------------


def run_import(personas, fmt: str, content: bytes, **kwargs):
    rows = READERS[fmt](io.BytesIO(content))
    return services.paths_import(
        actor=personas.sam, rows=rows, source_format=fmt, now=NOW, **kwargs
    )


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def kinds_by_source(source: str) -> set[str]:
    return set(CredentialIdentifier.objects.filter(source=source).values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("fmt", "file", "kinds"),
    [
        ("aws-credential-report", "aws-credential-report.csv", {"principal"}),
        ("gcp-sa-keys", "gcp-sa-keys.json", {"key_id", "principal"}),
        ("k8s-serviceaccounts", "k8s-serviceaccounts.json", {"principal"}),
        ("aws-access-keys", "aws-access-keys.json", {"key_id"}),
        ("aws-access-keys", "aws-access-keys-users.json", {"key_id", "principal"}),
        ("entra-app-credentials", "entra-app-credentials.json", {"key_id", "client_id"}),
        ("github-pat-grants", "github-pat-grants.json", {"key_id"}),
    ],
)
def test_importers_record_their_identifiers(personas, fmt, file, kinds):
    report = run_import(personas, fmt, sample(file))
    assert report.run.status == "applied", report.errors
    assert kinds_by_source(f"import:{fmt}") == kinds
    # a second run of the same file records nothing new
    before = CredentialIdentifier.objects.count()
    events = AuditEvent.objects.filter(action="access_path.identifiers_changed").count()
    run_import(personas, fmt, sample(file))
    assert CredentialIdentifier.objects.count() == before
    assert AuditEvent.objects.filter(action="access_path.identifiers_changed").count() == events


def test_k8s_principal_form(personas):
    run_import(personas, "k8s-serviceaccounts", sample("k8s-serviceaccounts.json"))
    values = CredentialIdentifier.objects.filter(kind="principal").values_list("value", flat=True)
    assert values and all(v.startswith("system:serviceaccount:") for v in values)


def test_aws_access_keys_reader_shapes():
    rows = list(aws_access_keys.read(io.BytesIO(sample("aws-access-keys.json"))))
    assert [(r.data["external_id"], r.disabled) for r in rows] == [("user/billing-export", False)]
    assert rows[0].identifiers == [("key_id", KEY), ("key_id", "AKIAI44QH8DHBEXAMPLE")]
    assert rows[0].hints["inactive_keys"] == "1"
    users = list(aws_access_keys.read(io.BytesIO(sample("aws-access-keys-users.json"))))
    assert [(r.data["external_id"], r.disabled) for r in users] == [
        ("arn:aws:iam::123456789012:user/ci-deployer", False),
        ("arn:aws:iam::123456789012:user/service/old-backup", True),
    ]
    assert users[0].identifiers[0] == ("principal", "arn:aws:iam::123456789012:user/ci-deployer")
    broken = list(aws_access_keys.read(io.BytesIO(b'{"nope": 1}')))
    assert broken[0].line == 0 and broken[0].errors == [aws_access_keys.SHAPE]
    secret = json.dumps(
        {"AccessKeyMetadata": [{"UserName": "x", "AccessKeyId": GH_TOKEN, "Status": "Active"}]}
    )
    (row,) = aws_access_keys.read(io.BytesIO(secret.encode()))
    assert row.errors and GH_TOKEN not in " ".join(row.errors)


def test_discovered_iam_keys_are_findable_by_key_id(personas):
    run_import(personas, "aws-access-keys", sample("aws-access-keys-users.json"))
    found = CredentialIdentifier.objects.get(kind="key_id", value="AKIAJ7EXAMPLEKEY0001")
    assert found.path.external_id == "arn:aws:iam::123456789012:user/ci-deployer"


def test_registry_csv_identifiers_column(personas):
    content = (
        "name,kind,system,external_id,environment,identifiers\n"
        f"ci,service_account,aws,ci-user,prod,key_id:{KEY};fingerprint:sha256:{FP}\n"
    ).encode()
    report = run_import(personas, "csv", content)
    assert report.run.status == "applied", report.errors
    path = AccessPath.objects.get(external_id="ci-user")
    assert live(path) == [("fingerprint", FP), ("key_id", KEY)]
    bad = "name,kind,system,external_id,environment,identifiers\nx,service_account,aws,x,prod,nokind\n"  # noqa: E501
    refused = run_import(personas, "csv", bad.encode())
    assert refused.run.status == "refused"


def test_an_import_refuses_a_key_id_registered_elsewhere(personas, make_path):
    other = make_path(owner_team=personas.teams.data)
    identifiers_set(actor=personas.sam, path=other, identifiers=[("key_id", KEY)], now=NOW)
    report = run_import(personas, "aws-access-keys", sample("aws-access-keys.json"))
    assert report.run.status == "refused"
    assert report.errors[0]["errors"] == [f"identifiers: {errors.IDENTIFIER_TAKEN}"]


def test_entra_credentials_are_findable_by_key_id_and_app_id(personas):
    document = json.loads(sample("entra-app-credentials.json"))
    app = document["value"][0]
    key_id = (app["passwordCredentials"] or app["keyCredentials"])[0]["keyId"]
    run_import(personas, "entra-app-credentials", sample("entra-app-credentials.json"))
    found = CredentialIdentifier.objects.get(kind="key_id", value=key_id)
    assert found.path.external_id == f"{app['appId']}/{key_id}"
    holders = CredentialIdentifier.objects.filter(kind="client_id", value=app["appId"])
    # every registered credential of the app (an expired one is skipped) shares its client id
    registered = AccessPath.objects.filter(external_id__startswith=f"{app['appId']}/")
    assert holders.count() == registered.count() >= 2
    # the secret's hint (its first characters) is never recorded
    hints = {c.get("hint") for c in app["passwordCredentials"]} - {None}
    assert not CredentialIdentifier.objects.filter(value__in=hints).exists()


def test_github_pat_grants_are_findable_by_token_and_grant_id(personas):
    grant = json.loads(sample("github-pat-grants.json"))[0]
    run_import(personas, "github-pat-grants", sample("github-pat-grants.json"))
    by_token = CredentialIdentifier.objects.get(
        kind="key_id", value=f"github-pat:{grant['token_id']}"
    )
    by_grant = CredentialIdentifier.objects.get(
        kind="key_id", value=f"github-pat-grant:{grant['id']}"
    )
    assert by_token.path_id == by_grant.path_id
    assert by_token.path.external_id == f"github-pat-grant:{grant['id']}"
