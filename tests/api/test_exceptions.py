"""Policy exceptions through the API: create, list, retrieve, approve, reject."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath, AuditEvent, PolicyException
from registry.rules import errors
from tests.api.helpers import (
    DAY,
    DECISION_REASON,
    EXCEPTION_REASON,
    assert_error,
    results,
    unchanged,
    url,
)

pytestmark = pytest.mark.django_db


def exception_url(exception: PolicyException, action: str | None = None) -> str:
    return reverse(f"exception-{action}" if action else "exception-detail", args=[exception.pk])


def exception_body(target: AccessPath, now, **overrides) -> dict:
    return {
        "path": str(target.pk),
        "rule": "nhi5_overprivileged",
        "reason": EXCEPTION_REASON,
        "expires_at": (now + 30 * DAY).isoformat(),
    } | overrides


@pytest.fixture
def waiver(personas, own, now):
    return services.exception_request(
        actor=personas.pat,
        path=own,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason=EXCEPTION_REASON,
        expires_at=now + 30 * DAY,
    )


def test_exception_create(pat, own, now):
    response = pat.post(reverse("exception-list"), exception_body(own, now), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["path"], data["status"], data["requested_by"]) == (str(own.pk), "pending", "pat")
    assert AuditEvent.objects.filter(path=own).latest("seq").action == "exception.requested"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"rule": "anything_goes"}, ["rule"]),
        ({"reason": "temp"}, {"reason": errors.JUSTIFICATION_PLACEHOLDER}),
        ({"expires_at": "2001-01-01T00:00:00Z"}, {"expires_at": errors.EXPIRY_IN_PAST}),
        ({"expires_at": None}, ["expires_at"]),
        ({"path": "not-a-uuid"}, ["path"]),
    ],
)
def test_exception_create_refuses_bad_input_per_field(pat, own, now, overrides, expected):
    with unchanged():
        assert_error(
            pat.post(
                reverse("exception-list"), exception_body(own, now, **overrides), format="json"
            ),
            400,
            errors=expected,
        )


def test_exception_longer_than_a_year_is_400(pat, own, now):
    body = exception_body(own, now, expires_at=(now + 400 * DAY).isoformat())
    with unchanged():
        assert_error(
            pat.post(reverse("exception-list"), body, format="json"),
            400,
            errors={"expires_at": errors.EXCEPTION_TOO_LONG.format(days=365)},
        )


def test_exception_for_an_invisible_path_is_404(pat, other, now):
    with unchanged():
        assert_error(
            pat.post(reverse("exception-list"), exception_body(other, now), format="json"), 404
        )


def test_exception_by_a_token_is_403(ci, own, now):
    with unchanged():
        assert_error(
            ci.post(reverse("exception-list"), exception_body(own, now), format="json"),
            403,
            errors.HUMAN_REQUIRED,
        )


def test_a_second_pending_exception_for_the_rule_is_409(pat, waiver, own, now):
    with unchanged():
        assert_error(
            pat.post(reverse("exception-list"), exception_body(own, now), format="json"),
            409,
            errors.EXCEPTION_ALREADY_PENDING,
        )


def test_exception_list_and_retrieve(pat, waiver):
    assert [item["id"] for item in results(pat.get(reverse("exception-list")))] == [waiver.pk]
    assert pat.get(exception_url(waiver)).json()["rule"] == "nhi5_overprivileged"


def test_exception_approve(sam, waiver):
    response = sam.post(
        exception_url(waiver, "approve"), {"reason": DECISION_REASON}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert sam.get(f"{url()}?has_exception=true").json()["results"][0]["id"] == str(waiver.path_id)


def test_no_expiry_waiver_lets_the_owner_drop_the_expiry(sam, pat, own, now):
    body = exception_body(own, now, rule="no_expiry")
    waiver_id = pat.post(reverse("exception-list"), body, format="json").json()["id"]
    assert (
        sam.post(reverse("exception-approve", args=[waiver_id]), {}, format="json").status_code
        == 200
    )
    response = pat.patch(url(own), {"expires_at": None}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["expires_at"] is None


def test_exception_reject(sam, waiver):
    response = sam.post(exception_url(waiver, "reject"), {"reason": DECISION_REASON}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"


def test_exception_reject_needs_a_reason(sam, waiver):
    with unchanged():
        assert_error(
            sam.post(exception_url(waiver, "reject"), {}, format="json"), 400, errors=["reason"]
        )


def test_exception_decided_twice_is_409(sam, waiver):
    sam.post(exception_url(waiver, "approve"), {}, format="json")
    with unchanged():
        for action in ("approve", "reject"):
            assert_error(
                sam.post(exception_url(waiver, action), {"reason": DECISION_REASON}, format="json"),
                409,
                errors.EXCEPTION_NOT_PENDING.format(status="approved"),
            )


def test_exception_approve_by_a_non_reviewer_or_the_requester_is_403(lee, sam, personas, own, now):
    mine = services.exception_request(
        actor=personas.sam,
        path=own,
        rule=PolicyException.Rule.NHI7_LONG_LIVED,
        reason=EXCEPTION_REASON,
        expires_at=now + 30 * DAY,
    )
    with unchanged():
        assert_error(
            lee.post(exception_url(mine, "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )
        assert_error(
            sam.post(exception_url(mine, "approve"), {}, format="json"),
            403,
            errors.SELF_REVIEW_FORBIDDEN,
        )
