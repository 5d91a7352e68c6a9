"""Attesting an access path through the API (keep, revoke) and its refusals."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AccessPath
from registry.rules import errors
from tests.api.helpers import KEEP, REVOKE_REASON, assert_error, unchanged, url

pytestmark = pytest.mark.django_db


def test_attest_keep_starts_a_new_review_cycle(pat, own):
    response = pat.post(url(own, "attest"), KEEP, format="json", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 201, response.content
    data = response.json()
    assert (
        data["decision"] == "keep" and data["attested_by"] == "pat" and data["team"] == "payments"
    )
    own.refresh_from_db()
    assert own.last_attested_at is not None and own.version == 2
    assert own.next_review_at.isoformat().replace("+00:00", "Z") == data["next_review_at"]


def test_attest_revoke_ends_the_path(pat, own):
    body = KEEP | {"decision": "revoke", "still_needed": False, "note": "Job retired."}
    assert pat.post(url(own, "attest"), body, format="json").status_code == 201
    assert pat.get(url(own)).json()["status"] == "awaiting_source"


KEEP_MISSING = errors.CONFIRMATIONS_MISSING
LEAST = errors.ATTEST_CONFIRMATIONS["least_privilege"]
NEEDED = errors.ATTEST_CONFIRMATIONS["still_needed"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"least_privilege": False},
            {"decision": KEEP_MISSING.format(action="keep this path", missing=f"“{LEAST}”")},
        ),
        (
            {"still_needed": False},
            {"decision": KEEP_MISSING.format(action="keep this path", missing=f"“{NEEDED}”")},
        ),
        (
            {"decision": "reduce_scope", "least_privilege": False},
            {"note": errors.REDUCE_SCOPE_NEEDS_NOTE},
        ),
        ({"decision": "forget"}, ["decision"]),
        ({"no_human_use": None}, ["no_human_use"]),
    ],
)
def test_attest_refuses_bad_input_per_field(pat, own, changes, expected):
    with unchanged():
        assert_error(
            pat.post(url(own, "attest"), KEEP | changes, format="json"), 400, errors=expected
        )


def test_attest_with_a_credential_is_refused_and_signalled(pat, own):
    changes = {"note": "token ghp_" + "a" * 36}
    response = pat.post(url(own, "attest"), KEEP | changes, format="json")
    assert_error(response, 400, errors=["note"])
    # The attestation rolled back; the paste is the path's leak signal (NHI2).
    fresh = AccessPath.objects.get(pk=own.pk)
    assert (fresh.version, fresh.last_attested_at) == (own.version, own.last_attested_at)
    assert fresh.secret_refused_at is not None


def test_attest_by_an_integration_token_is_403(ci, own):
    with unchanged():
        assert_error(ci.post(url(own, "attest"), KEEP, format="json"), 403, errors.HUMAN_REQUIRED)


def test_attest_of_a_signoff_path_needs_a_lead(pat, lee, make_path, now):
    path = make_path(now=now, requires_human_signoff=True)
    with unchanged():
        assert_error(
            pat.post(url(path, "attest"), KEEP, format="json"), 403, errors.LEAD_SIGNOFF_REQUIRED
        )
    assert lee.post(url(path, "attest"), KEEP, format="json").status_code == 201


def test_attest_of_a_revoked_path_is_409(pat, own, personas):
    services.path_revoke(actor=personas.lee, path=own, reason=REVOKE_REASON)
    with unchanged():
        assert_error(
            pat.post(url(own, "attest"), KEEP, format="json"),
            409,
            errors.PATH_NOT_LIVE.format(state="revoked"),
        )


def test_attest_with_a_stale_if_match_is_412(pat, own):
    with unchanged():
        assert_error(
            pat.post(url(own, "attest"), KEEP, format="json", HTTP_IF_MATCH='W/"2"'),
            412,
            errors.STALE_VERSION.format(expected=2, actual=1),
        )
