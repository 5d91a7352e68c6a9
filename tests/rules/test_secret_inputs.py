"""Every input goes through the credential detector: fields, reasons, notes, names,
saved filters, search, the request-id header. A refusal names the field, never echoes
the value, and stores nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, SavedFilter
from registry.rules import errors
from registry.rules.errors import Invalid
from tests.assertions import refused
from tests.conftest import JUSTIFICATION, NOW, TICKET

GITHUB = "ghp_" + "Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8"
TEXT_FIELDS = [
    "name",
    "justification",
    "privilege_scope",
    "revocation_plan",
    "artifact_ref",
    "created_by_ref",
    "data_classification",
    "external_id",
]


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body(**overrides) -> dict:
    data = {
        "name": "billing-export",
        "kind": "service_account",
        "system": "aws",
        "environment": "prod",
        "justification": JUSTIFICATION,
        "ticket_url": TICKET,
        "risk_tier": "low",
        "owner_team": "payments",
        "expires_at": "2027-06-01T00:00:00Z",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_every_path_text_field_refuses_a_credential_through_the_api(personas, field):
    value = f"{JUSTIFICATION} Its key is {GITHUB}." if field == "justification" else GITHUB
    response = api(personas.users.lee).post(
        "/api/v1/access-paths/", body(**{field: value}), format="json"
    )
    assert response.status_code == 400, response.content
    assert any(m.startswith("This looks like a secret") for m in response.json()["errors"][field])
    assert GITHUB not in response.content.decode()
    assert not AccessPath.objects.exists() or not AccessPath.objects.filter(**{field: value})
    assert GITHUB not in str(list(AuditEvent.objects.values_list("changes", "reason")))


def test_consumers_and_reasons_refuse_a_credential(personas, path, unowned_path):
    lee = api(personas.users.lee)
    for url, payload, field in [
        (f"/api/v1/access-paths/{path.pk}/", {"consumers": ["ci", GITHUB]}, "consumers"),
        (f"/api/v1/access-paths/{path.pk}/revoke/", {"reason": "leaked " + GITHUB}, "reason"),
        (
            f"/api/v1/access-paths/{path.pk}/transfer/",
            {"to_team": "data", "reason": "Data runs this job now; key " + GITHUB},
            "reason",
        ),
        (
            f"/api/v1/access-paths/{unowned_path.pk}/claim/",
            {"team": "payments", "reason": "Our billing job uses it, token " + GITHUB},
            "reason",
        ),
    ]:
        method = lee.patch if url.endswith(f"{path.pk}/") else lee.post
        response = method(url, payload, format="json")
        assert response.status_code == 400, (url, response.content)
        assert field in response.json()["errors"], response.json()
        assert GITHUB not in response.content.decode()
    assert GITHUB not in str(list(AuditEvent.objects.values_list("changes", "reason")))


def test_attestation_note_exception_and_team_name(personas, path):
    with refused(Invalid) as caught:
        services.path_attest(
            actor=personas.lee, path=path, decision="reduce_scope", still_needed=True,
            justification_accurate=True, least_privilege=False, no_human_use=True,
            note="Drop write; old key was " + GITHUB, now=NOW,
        )  # fmt: skip
    assert caught.value.field == "note"
    with refused(Invalid) as caught:
        services.team_update(
            actor=personas.sam, team=personas.teams.data, changes={"name": "Data " + GITHUB},
            now=NOW,
        )  # fmt: skip
    assert caught.value.field == "name"
    with refused(Invalid) as caught:
        services.token_create(
            actor=personas.lee, name="deploy " + GITHUB, scopes=["read"],
            team=personas.teams.payments, expires_in_days=30, now=NOW,
        )  # fmt: skip
    assert caught.value.field == "name"


def test_a_channel_destination_is_configuration_not_a_stored_credential(personas):
    hook = "https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/" + "q8WnL3xR5vK2mP9tZ4yH7cJ1"
    team = services.team_update(
        actor=personas.sam, team=personas.teams.data, changes={"slack_webhook_url": hook},
        now=NOW,
    )  # fmt: skip
    assert team.slack_webhook_url == hook
    # ...and the audit trail records where it points, never the URL's secret part.
    assert "q8WnL3xR5vK2mP9tZ4yH7cJ1" not in str(
        list(AuditEvent.objects.values_list("changes", flat=True))
    )


def test_saved_filter_name_and_query_refuse_a_credential(personas):
    with refused(Invalid) as caught:
        services.saved_filter_create(
            actor=personas.pat, name="leak " + GITHUB, query="status=overdue"
        )
    assert caught.value.field == "name"
    with refused(Invalid) as caught:
        services.saved_filter_create(
            actor=personas.pat, name="leaked", query="status=overdue&tag=" + GITHUB
        )
    assert caught.value.field == "query"
    assert not SavedFilter.objects.exists()


def test_a_credential_typed_into_search_is_not_searched(personas, path):
    lee = api(personas.users.lee)
    response = lee.get("/api/v1/access-paths/", {"q": GITHUB})
    assert response.status_code == 400
    message = response.json()["errors"]["q"][0]
    assert message == errors.SEARCH_LOOKS_LIKE_SECRET.format(kind="GitHub token")
    assert "fingerprint" in message
    assert GITHUB not in response.content.decode()
    # A key *id* is a legitimate lookup.
    assert lee.get("/api/v1/access-paths/", {"q": "AKIAIOSFODNN7EXAMPLE"}).status_code == 200
    # The page explains it beside the search box, and searches nothing.
    browser = Client()
    browser.force_login(personas.users.lee)
    page = browser.get("/paths/", {"q": GITHUB})
    assert page.status_code == 400
    assert "Look it up by its" in page.content.decode()
    assert GITHUB not in page.content.decode()


@pytest.mark.parametrize(
    "supplied",
    [GITHUB, "nhir_" + "a" * 36, "xoxb-1234567890-abcdefghij"],
)
def test_a_credential_in_the_request_id_header_is_replaced(personas, path, supplied):
    lee = api(personas.users.lee)
    response = lee.patch(
        f"/api/v1/access-paths/{path.pk}/",
        {"privilege_scope": "s3:GetObject on the invoices bucket"},
        format="json",
        HTTP_X_REQUEST_ID=supplied,
    )
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] != supplied
    assert len(response["X-Request-ID"]) == 32
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.request_id == response["X-Request-ID"]
    assert not AuditEvent.objects.filter(request_id=supplied).exists()


def test_a_plain_request_id_is_kept(personas, path):
    response = api(personas.users.lee).get(
        f"/api/v1/access-paths/{path.pk}/", HTTP_X_REQUEST_ID="deploy-4711.step:3"
    )
    assert response["X-Request-ID"] == "deploy-4711.step:3"


# --- imports: a refused row names its line and field, never the value ---------------------


def test_an_import_row_with_a_credential_names_line_and_field(personas, tmp_path):
    import io
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    csv_file = tmp_path / "paths.csv"
    csv_file.write_text(
        "name,kind,system,external_id,environment,justification\n"
        "billing-export,service_account,aws,arn:aws:iam::1:user/billing,prod,"
        f'"{JUSTIFICATION}"\n'
        "deploy-bot,ci_secret,github,acme/deploy,prod,"
        f'"Deploys the storefront nightly; the token is {GITHUB} for now"\n'
    )
    k8s_file = tmp_path / "sa.json"
    k8s_file.write_text(
        json.dumps(
            {
                "kind": "List",
                "items": [
                    {
                        "kind": "ServiceAccount",
                        "metadata": {
                            "name": "payments-api",
                            "namespace": "payments",
                            "uid": "5b1f2a8c-3d4e-4f5a-8b6c-7d8e9f0a1b2c",
                            "labels": {"app.kubernetes.io/name": "api-" + GITHUB},
                        },
                    }
                ],
            }
        )
    )
    for path, fmt, line, field in [
        (csv_file, "csv", 3, "justification"),
        (k8s_file, "k8s-serviceaccounts", 1, "consumers"),
    ]:
        out = io.StringIO()
        try:
            call_command(
                "import_paths", str(path), "--format", fmt, "--team", "platform",
                "--no-progress", stdout=out, stderr=io.StringIO(),
            )  # fmt: skip
        except CommandError as exc:
            out.write(str(exc))
        text = out.getvalue()
        assert GITHUB not in text
        assert GITHUB not in str(list(AuditEvent.objects.values_list("changes", "reason")))
        assert not AccessPath.objects.filter(justification__contains=GITHUB).exists()
        assert f"line {line}" in text, text
        assert field in text and "looks like a secret" in text, text


def test_a_legacy_credential_can_be_cleaned_up_without_being_audited_again(personas, path):
    """A value stored before the detector knew its format: security edits it away, and
    the edit records that a credential was removed, not the credential."""
    from registry.audit import verify_chain
    from registry.audit.record import CREDENTIAL_REMOVED

    legacy = f"{JUSTIFICATION} Key: {GITHUB}"
    AccessPath.objects.filter(pk=path.pk).update(justification=legacy)
    path.refresh_from_db()
    services.path_update(
        actor=personas.sam, path=path, changes={"justification": JUSTIFICATION},
        reason="Removed a token pasted into the justification.", now=NOW,
    )  # fmt: skip
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.changes["justification"] == [CREDENTIAL_REMOVED, JUSTIFICATION]
    assert GITHUB not in str(list(AuditEvent.objects.values_list("changes", "reason")))
    assert verify_chain().intact


def test_a_credential_in_the_url_does_not_stop_a_token_denial_being_audited(personas):
    """Guessing tokens against a URL that carries a credential still leaves a trace."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer nhir_" + "x" * 36)
    response = client.get(f"/api/v1/teams/{GITHUB}/")
    assert response.status_code == 401
    denial = AuditEvent.objects.filter(action="api_token.denied").order_by("-seq").first()
    assert denial is not None
    assert GITHUB not in str(denial.changes)
    assert "[REDACTED]" in str(denial.changes)
