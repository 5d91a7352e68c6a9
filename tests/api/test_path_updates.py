"""Changing an access path through the API: partial update (ETags and If-Match),
idempotent registration by (system, external_id), and revocation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, Transfer
from registry.rules import errors
from tests.api.helpers import (
    REVOKE_REASON,
    TRANSFER_REASON,
    assert_error,
    results,
    session,
    unchanged,
    url,
    version,
)

pytestmark = pytest.mark.django_db

# --- access-paths: partial update -----------------------------------------------------


def test_patch_updates_and_bumps_the_etag(pat, own):
    response = pat.patch(
        url(own), {"consumers": "The nightly export job, v2."}, format="json", HTTP_IF_MATCH='W/"1"'
    )
    assert response.status_code == 200, response.content
    assert response.json()["consumers"] == "The nightly export job, v2."
    assert response.json()["version"] == 2 and response["ETag"] == 'W/"2"'
    assert AuditEvent.objects.filter(path=own).latest("seq").action == "access_path.updated"
    assert pat.get(url(own))["ETag"] == 'W/"2"'


def test_patch_sets_tags(pat, own):
    response = pat.patch(url(own), {"tags": ["PCI", "soc2"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["pci", "soc2"]
    assert [p["id"] for p in results(pat.get(f"{url()}?tag=pci"))] == [str(own.pk)]


def test_patch_without_if_match_is_last_writer_wins(pat, own):
    assert pat.patch(url(own), {"name": "renamed"}, format="json").status_code == 200
    assert version(own) == 2


def test_patch_that_changes_nothing_keeps_the_version(pat, own):
    with unchanged():
        response = pat.patch(url(own), {"name": own.name}, format="json")
    assert response.status_code == 200 and response["ETag"] == 'W/"1"'


@pytest.mark.parametrize("tag", ['W/"0"', '"7"', "7"])
def test_patch_with_a_stale_if_match_is_412(pat, own, tag):
    with unchanged():
        assert_error(
            pat.patch(url(own), {"name": "renamed"}, format="json", HTTP_IF_MATCH=tag),
            412,
            errors.STALE_VERSION.format(expected=tag.strip('W/"'), actual=1),
        )


def test_patch_with_a_malformed_if_match_is_400(pat, own):
    with unchanged():
        response = pat.patch(url(own), {"name": "x"}, format="json", HTTP_IF_MATCH="yesterday")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ticket_url": "not a url"}, ["ticket_url"]),
        ({"justification": "needed"}, {"justification": errors.JUSTIFICATION_PLACEHOLDER}),
        ({"owner_team": "data"}, {"owner_team": errors.UNKNOWN_FIELD}),
        ({"expires_at": None}, {"expires_at": errors.EXPIRY_REQUIRED}),
        ({"review_interval_days": 400}, ["review_interval_days"]),
    ],
)
def test_patch_refuses_bad_input_per_field(pat, own, changes, expected):
    with unchanged():
        assert_error(pat.patch(url(own), changes, format="json"), 400, errors=expected)


def secret_signalled(path: AccessPath) -> None:
    """A credential in a refused change: the change rolled back, and the paste is the
    path's leak signal (NHI2: registry/services/leak_signals.py)."""
    fresh = AccessPath.objects.get(pk=path.pk)
    assert (fresh.version, fresh.privilege_scope, fresh.state) == (
        path.version, path.privilege_scope, path.state
    )  # fmt: skip
    assert fresh.secret_refused_at is not None
    assert AuditEvent.objects.filter(action="access_path.secret_refused", path=path).exists()


def test_patch_with_a_credential_is_refused_and_signalled(pat, own):
    changes = {"privilege_scope": "-----BEGIN RSA PRIVATE KEY-----"}
    assert_error(pat.patch(url(own), changes, format="json"), 400, errors=["privilege_scope"])
    secret_signalled(own)


def test_patch_refuses_a_read_only_field(pat, own):
    with unchanged():
        assert_error(
            pat.patch(url(own), {"state": "revoked"}, format="json"),
            400,
            errors={"state": errors.UNKNOWN_FIELD},
        )


def test_patch_of_a_revoked_path_is_409(pat, own, personas):
    services.path_revoke(actor=personas.lee, path=own, reason=REVOKE_REASON)
    with unchanged():
        assert_error(
            pat.patch(url(own), {"name": "x"}, format="json"),
            409,
            errors.PATH_NOT_LIVE.format(state="revoked"),
        )


def test_patch_of_an_unowned_path_by_a_non_steward_is_403(pat, unowned):
    with unchanged():
        assert_error(
            pat.patch(url(unowned), {"name": "x"}, format="json"), 403, errors.NOT_A_MEMBER
        )


def test_patch_of_an_invisible_path_is_404(pat, other):
    with unchanged():
        assert_error(pat.patch(url(other), {"name": "x"}, format="json"), 404)


# A date that records what happened cannot be in the future (issue 13; the service's
# refusal is in tests/services/test_paths_update.py).


def test_the_api_refuses_it_too(personas, path):
    api = APIClient()
    api.force_authenticate(personas.users.lee)
    response = api.patch(
        f"/api/v1/access-paths/{path.pk}/",
        {"last_rotated_at": "2036-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"last_rotated_at": [errors.DATE_IN_FUTURE]}


# --- access-paths: register (idempotent) ----------------------------------------------


def test_register_creates_then_is_idempotent(ci, pipeline_body):
    first = ci.post(url(action="register"), pipeline_body, format="json")
    assert first.status_code == 201, first.content
    path = AccessPath.objects.get(pk=first.json()["id"])
    assert first.json()["tags"] == ["pci", "soc2"] and first["ETag"] == 'W/"1"'
    with unchanged():
        second = ci.post(url(action="register"), pipeline_body, format="json")
    assert second.status_code == 200, second.content
    assert second.json()["id"] == str(path.pk)
    assert second.json()["version"] == 1 and version(path) == 1


def test_register_updates_what_changed(ci, pipeline_body):
    path_id = ci.post(url(action="register"), pipeline_body, format="json").json()["id"]
    response = ci.post(
        url(action="register"), pipeline_body | {"created_by_ref": "deploy#43"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["created_by_ref"] == "deploy#43"
    assert response.json()["version"] == 2 and response["ETag"] == 'W/"2"'
    assert AccessPath.objects.filter(external_id=pipeline_body["external_id"]).count() == 1
    assert AuditEvent.objects.filter(path_id=path_id).count() == 2


def test_register_with_another_owner_is_409(sam, own):
    body = {"system": own.system, "external_id": own.external_id, "owner_team": "data"}
    with unchanged():
        assert_error(
            sam.post(url(action="register"), body, format="json"), 409, errors.OWNER_DIFFERS
        )


@pytest.mark.parametrize("missing", ["system", "external_id"])
def test_register_needs_system_and_external_id(ci, pipeline_body, missing):
    body = {k: v for k, v in pipeline_body.items() if k != missing}
    with unchanged():
        assert_error(
            ci.post(url(action="register"), body, format="json"),
            400,
            errors={missing: errors.REQUIRED},
        )


def test_register_refuses_bad_input_per_field(ci, pipeline_body):
    with unchanged():
        assert_error(
            ci.post(
                url(action="register"), pipeline_body | {"justification": "n/a"}, format="json"
            ),
            400,
            errors={"justification": errors.JUSTIFICATION_PLACEHOLDER},
        )


def test_register_for_another_team_is_403(ci, pipeline_body):
    with unchanged():
        assert_error(
            ci.post(url(action="register"), pipeline_body | {"owner_team": "data"}, format="json"),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_register_requires_credentials(pipeline_body):
    with unchanged():
        assert_error(APIClient().post(url(action="register"), pipeline_body, format="json"), 401)


def test_register_by_an_outsider_on_an_existing_path_is_a_404(personas, own):
    """As for any path the caller cannot see: no oracle (tests/api/test_no_oracles.py)."""
    otto = session(personas.users.otto)
    body = {"system": own.system, "external_id": own.external_id, "owner_team": "data"}
    with unchanged():
        assert_error(otto.post(url(action="register"), body, format="json"), 404)


# --- access-paths: revoke -------------------------------------------------------------


def test_revoke_ends_the_path_and_its_open_requests(pat, lee, own, personas):
    transfer = services.path_transfer(
        actor=personas.lee, path=own, to_team=personas.teams.data, reason=TRANSFER_REASON
    )
    response = pat.post(
        url(own, "revoke"), {"reason": REVOKE_REASON}, format="json", HTTP_IF_MATCH='W/"1"'
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "awaiting_source"
    assert response.json()["state"] == "revoked"
    assert response["ETag"] == f'W/"{response.json()["version"]}"'
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.DECLINED


def test_revoke_needs_a_reason(pat, own):
    with unchanged():
        assert_error(pat.post(url(own, "revoke"), {}, format="json"), 400, errors=["reason"])
    assert_error(
        pat.post(url(own, "revoke"), {"reason": "xoxb-1234567890-abcdef"}, format="json"),
        400,
        errors=["reason"],
    )
    secret_signalled(own)


def test_revoke_twice_is_409(pat, own):
    assert pat.post(url(own, "revoke"), {"reason": REVOKE_REASON}, format="json").status_code == 200
    with unchanged():
        assert_error(
            pat.post(url(own, "revoke"), {"reason": REVOKE_REASON}, format="json"),
            409,
            errors.PATH_NOT_LIVE.format(state="revoked"),
        )


def test_revoke_with_a_stale_if_match_is_412(pat, own):
    with unchanged():
        assert_error(
            pat.post(
                url(own, "revoke"), {"reason": REVOKE_REASON}, format="json", HTTP_IF_MATCH='W/"3"'
            ),
            412,
            errors.STALE_VERSION.format(expected=3, actual=1),
        )


def test_revoke_by_an_integration_token_is_403(ci, own):
    with unchanged():
        assert_error(
            ci.post(url(own, "revoke"), {"reason": REVOKE_REASON}, format="json"),
            403,
            errors.HUMAN_REQUIRED,
        )
