"""The REST API, endpoint by endpoint: each resource and action succeeds, and each of its
refusals (400 per field, 401, 403/404, 409, 412) has the error shape
{"detail", "code", "errors"?} and changes nothing. Also: list filters, cursor
pagination, ETags and If-Match, idempotent registration, API tokens, the
create_api_token command, and the schema and docs pages.

Who may do what to which object, persona by persona, is test_api_authorization.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.exceptions import _CODES
from api.permissions import MISSING_SCOPE
from registry import services
from registry.models import (
    AccessPath,
    ApiToken,
    AuditEvent,
    Claim,
    Notification,
    PolicyException,
    Transfer,
)
from registry.rules import errors, token_format
from registry.services.ownership import ANOTHER_CLAIM_APPROVED
from registry.services.security import SECURITY_ACTIONS
from registry.services.tokens import MAX_TOKEN_DAYS, REGISTRY_SYSTEM, token_create, token_revoke
from tests.assertions import snapshot
from tests.conftest import JUSTIFICATION, path_data

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
CLAIM_REASON = "Our billing export job runs under this account every night."
TRANSFER_REASON = "The data team now runs the billing export pipeline."
DECISION_REASON = "Confirmed with the steward: the export job is theirs."
EXCEPTION_REASON = "The vendor API offers no narrower scope until its next release."
REVOKE_REASON = "The export job was retired last week."
KEEP = {
    "decision": "keep",
    "still_needed": True,
    "justification_accurate": True,
    "least_privilege": True,
    "no_human_use": True,
    "note": "",
}


# --- helpers ------------------------------------------------------------------------


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def issue(personas, *, scopes=("read", "write"), team="payments", user=None, **kwargs):
    """A token for a team (default payments) or, with `user`, a personal one."""
    holder = {"user": user} if user is not None else {"team": getattr(personas.teams, team)}
    return token_create(
        actor=personas.system, name=f"ci-{len(scopes)}", scopes=list(scopes), **holder, **kwargs
    )


def url(path: AccessPath | None = None, action: str | None = None) -> str:
    if path is None:
        return reverse("access-path-register" if action == "register" else "access-path-list")
    if action is None:
        return reverse("access-path-detail", args=[path.pk])
    return reverse(f"access-path-{action}", args=[path.pk])


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"next", "previous", "results"}  # cursor pages: no count
    return body["results"]


def names(response) -> set[str]:
    return {item["name"] for item in results(response)}


def assert_error(response, status: int, detail: str | None = None, errors=None) -> dict:
    """The error shape: {"detail", "code", "errors"?}, with per-field errors on a 400."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == _CODES[status]
    assert "detail" in body
    if detail is not None:
        assert body["detail"] == detail
    if status == 400:
        assert isinstance(body["errors"], dict) and body["errors"]
    if errors is not None:
        if isinstance(errors, dict):
            for field, message in errors.items():
                assert message in body["errors"][field], body["errors"]
        else:
            assert set(errors) <= set(body["errors"]), body["errors"]
    return body


@contextmanager
def unchanged():
    """Nothing at all changes: no audit event, no row (path versions included). A
    refusal's own security event (request.refused, api_token.denied) is not a change."""

    def state() -> dict:
        rows = snapshot()
        rows["AuditEvent"] = [e for e in rows["AuditEvent"] if e["action"] not in SECURITY_ACTIONS]
        return rows

    before = state()
    yield
    assert state() == before


def version(path: AccessPath) -> int:
    return AccessPath.objects.values_list("version", flat=True).get(pk=path.pk)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def own(make_path, now):
    return make_path(now=now, name="own-export")


@pytest.fixture
def other(make_path, personas, now):
    return make_path(now=now, owner_team=personas.teams.data, name="data-loader")


@pytest.fixture
def unowned(make_path, personas, now):
    return make_path(
        now=now,
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
        name="found-in-aws",
    )


@pytest.fixture
def pat(personas):
    return session(personas.users.pat)


@pytest.fixture
def lee(personas):
    return session(personas.users.lee)


@pytest.fixture
def sam(personas):
    return session(personas.users.sam)


@pytest.fixture
def dana(personas):
    return session(personas.users.dana)


@pytest.fixture
def ci(personas):
    """The payments team's read+write integration token."""
    return bearer(issue(personas)[1])


# --- access-paths: list, filters, pagination ------------------------------------------


def test_list_shows_the_callers_paths_as_cursor_pages(pat, own, other, unowned):
    assert names(pat.get(url())) == {"own-export", "found-in-aws"}


def test_list_requires_credentials(own):
    assert_error(APIClient().get(url()), 401)


@pytest.fixture
def estate(make_path, personas, now):
    """Five payments/data/unowned paths, one of each flavour the filters look for."""
    teams = personas.teams
    # Distinct creation times, so ordering by created_at has no ties.
    make_path(
        now=now - 4 * SECOND,
        name="alpha",
        system="aws",
        created_via="pipeline",
        expires_at=now + 30 * DAY,
        tags=["pci"],
    )
    make_path(
        now=now - 3 * SECOND,
        name="beta",
        owner_team=teams.data,
        kind="ci_secret",
        system="github",
        environment="staging",
        risk_tier="low",
        created_via="iac",
        expires_at=now + 300 * DAY,
        tags=["soc2"],
    )
    make_path(
        now=now - 2 * SECOND,
        name="gamma",
        owner_team=None,
        steward_team=teams.platform,
        kind="workload_identity",
        system="kubernetes",
        environment="dev",
        risk_tier="medium",
        created_via="discovery",
        justification="",
        ticket_url="",
        external_id="arn-gamma-77",
    )
    # Registered 100 days ago with a 90-day review interval: 10 days overdue.
    delta = make_path(now=now - 100 * DAY, name="delta", kind="ssh_key")
    services.exception_request(
        actor=personas.pat,
        path=delta,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason=EXCEPTION_REASON,
        expires_at=now + 30 * DAY,
        now=now,
    )
    services.exception_approve(
        actor=personas.sam, exception=delta.exceptions.get(), reason=DECISION_REASON, now=now
    )
    epsilon = make_path(
        now=now - SECOND,
        name="epsilon",
        justification="Quarterly reconciliation reads the ledger archive.",
    )
    services.path_revoke(actor=personas.lee, path=epsilon, reason=REVOKE_REASON, now=now)


ALL = {"alpha", "beta", "gamma", "delta", "epsilon"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ("status=active", {"alpha", "beta"}),
        ("status=overdue", {"delta"}),
        ("status=unowned", {"gamma"}),
        ("status=awaiting_source", {"epsilon"}),
        ("status=active&status=overdue", {"alpha", "beta", "delta"}),
        ("owner_team=payments", {"alpha", "delta", "epsilon"}),
        ("owner_team=data", {"beta"}),
        ("kind=ci_secret", {"beta"}),
        ("kind=ssh_key&kind=workload_identity", {"delta", "gamma"}),
        ("system=GitHub", {"beta"}),
        ("environment=dev", {"gamma"}),
        ("environment=prod", {"alpha", "delta", "epsilon"}),
        ("risk_tier=low", {"beta"}),
        ("created_via=discovery", {"gamma"}),
        ("created_via=pipeline", {"alpha"}),
        ("expires_before={in_60_days}", {"alpha"}),
        ("expires_after={in_200_days}", {"beta"}),
        ("review_due_before={now}", {"delta"}),
        ("has_exception=true", {"delta"}),
        ("has_exception=false", ALL - {"delta"}),
        ("tag=pci", {"alpha"}),
        ("tag=soc2", {"beta"}),
        ("q=GAMM", {"gamma"}),
        ("q=arn-gamma", {"gamma"}),
        ("q=ledger archive", {"epsilon"}),
        ("owner_team=payments&status=active", {"alpha"}),
    ],
)
def test_list_filters(sam, estate, now, query, expected):
    def iso(moment):
        return moment.isoformat().replace("+00:00", "Z")

    query = query.format(
        now=iso(now), in_60_days=iso(now + 60 * DAY), in_200_days=iso(now + 200 * DAY)
    )
    assert names(sam.get(f"{url()}?{query}")) == expected


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("name", ["alpha", "beta", "delta", "epsilon", "gamma"]),
        ("-name", ["gamma", "epsilon", "delta", "beta", "alpha"]),
        ("created_at", ["delta", "alpha", "beta", "gamma", "epsilon"]),
    ],
)
def test_list_ordering(sam, estate, ordering, expected):
    items = results(sam.get(f"{url()}?ordering={ordering}"))
    assert [item["name"] for item in items] == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("kind=printer", "kind"),
        ("risk_tier=extreme", "risk_tier"),
        ("environment=moon", "environment"),
        ("created_via=magic", "created_via"),
        ("owner_team=no-such-team", "owner_team"),
        ("expires_before=next-tuesday", "expires_before"),
        ("expires_after=2026-13-45", "expires_after"),
        ("review_due_before=soon", "review_due_before"),
    ],
)
def test_list_refuses_a_bad_filter_per_field(sam, own, query, field):
    assert_error(sam.get(f"{url()}?{query}"), 400, errors=[field])


def test_cursor_pagination_walks_every_page_once(sam, make_path, now):
    created = {str(make_path(now=now + i * dt.timedelta(seconds=1)).pk) for i in range(5)}
    seen, pages, link = [], 0, f"{url()}?page_size=2"
    while link:
        body = sam.get(link).json()
        assert "count" not in body
        seen += [item["id"] for item in body["results"]]
        pages += 1
        link = body["next"]
        assert pages == 1 or body["previous"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created


def test_next_links_keep_the_filters(sam, make_path, personas, now):
    for i in range(3):
        make_path(now=now + i * SECOND, name=f"ours-{i}")
        make_path(now=now + i * SECOND, name=f"theirs-{i}", owner_team=personas.teams.data)
    first = sam.get(f"{url()}?owner_team=payments&page_size=2").json()
    second = sam.get(first["next"]).json()
    assert [p["name"] for p in first["results"] + second["results"]] == [
        "ours-0",
        "ours-1",
        "ours-2",
    ]
    assert second["next"] is None


def test_a_bad_cursor_is_refused(sam, own):
    assert_error(sam.get(f"{url()}?cursor=not-a-cursor"), 404)


def test_page_size_is_capped_at_200(sam, personas, now):
    AccessPath.objects.bulk_create(
        AccessPath(
            name=f"bulk-{i}",
            kind=AccessPath.Kind.SERVICE_ACCOUNT,
            system="aws",
            external_id=f"bulk-{i}",
            environment=AccessPath.Environment.PROD,
            owner_team=personas.teams.payments,
            justification=JUSTIFICATION,
            review_interval_days=90,
            state=AccessPath.State.ACTIVE,
            state_changed_at=now,
            next_review_at=now + 90 * DAY,
            expires_at=now + 180 * DAY,
            created_at=now,
            updated_at=now,
        )
        for i in range(205)
    )
    body = sam.get(f"{url()}?page_size=500").json()
    assert len(body["results"]) == 200
    assert body["next"]
    rest = sam.get(body["next"]).json()
    assert len(rest["results"]) == 5 and rest["next"] is None
    assert len(results(sam.get(url()))) == 50  # the default page


# --- access-paths: create, retrieve ---------------------------------------------------


def test_create_registers_a_path(pat, personas):
    body = path_data(external_id="arn:aws:iam::1:user/export", owner_team="payments")
    response = pat.post(url(), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["owner_team"] == "payments" and data["status"] == "active"
    assert data["version"] == 1 and response["ETag"] == 'W/"1"'
    path = AccessPath.objects.get(pk=data["id"])
    event = AuditEvent.objects.filter(path=path).get()
    assert (event.action, event.actor_user) == ("access_path.registered", personas.users.pat)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "", "kind": "", "system": ""}, ["name", "kind", "system"]),
        ({"kind": "printer"}, ["kind"]),
        ({"justification": "tbd"}, {"justification": errors.JUSTIFICATION_PLACEHOLDER}),
        (
            {"ticket_url": "ftp://tickets.example.com/SEC-1"},
            {"ticket_url": errors.TICKET_URL_SCHEME},
        ),
        ({"ticket_url": ""}, {"ticket_url": errors.REQUIRED}),
        (
            {"consumers": "uses AKIAIOSFODNN7EXAMPLE"},
            {"consumers": errors.LOOKS_LIKE_SECRET.format(kind="AWS access key id")},
        ),
        ({"expires_at": "2001-01-01T00:00:00Z"}, {"expires_at": errors.EXPIRY_IN_PAST}),
        ({"owner_team": "no-such-team"}, ["owner_team"]),
        ({"tags": ["Not A Slug!"]}, {"tags": errors.TAGS_INVALID}),
        ({"rotation_days": "weekly"}, ["rotation_days"]),
    ],
)
def test_create_refuses_bad_input_per_field(pat, own, overrides, expected):
    body = path_data(external_id="new-1", owner_team="payments") | overrides
    with unchanged():
        assert_error(pat.post(url(), body, format="json"), 400, errors=expected)


def test_create_refuses_a_duplicate_external_id(pat, own):
    body = path_data(external_id=own.external_id, owner_team="payments")
    with unchanged():
        assert_error(
            pat.post(url(), body, format="json"),
            400,
            errors={"external_id": errors.DUPLICATE_EXTERNAL_ID},
        )


def test_create_for_another_team_is_forbidden(pat, personas):
    with unchanged():
        assert_error(
            pat.post(url(), path_data(owner_team="data"), format="json"),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_create_by_an_outsider_is_forbidden(personas):
    otto = session(personas.users.otto)
    with unchanged():
        assert_error(otto.post(url(), path_data(), format="json"), 403, errors.OUTSIDER)


def test_create_requires_credentials(personas):
    with unchanged():
        assert_error(APIClient().post(url(), path_data(), format="json"), 401)


def test_retrieve_carries_the_version_as_etag(pat, own):
    response = pat.get(url(own))
    assert response.status_code == 200
    assert response.json()["id"] == str(own.pk)
    assert response.json()["status"] == "active"
    assert response["ETag"] == 'W/"1"'


@pytest.mark.parametrize("pk", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_retrieve_unknown_is_404(pat, pk):
    assert_error(pat.get(f"{url()}{pk}/"), 404)


def test_retrieve_invisible_is_404(pat, other):
    assert_error(pat.get(url(other)), 404)


def test_a_404_says_what_was_not_found(pat, other):
    assert assert_error(pat.get(url(other)), 404)["detail"]


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
        ({"privilege_scope": "-----BEGIN RSA PRIVATE KEY-----"}, ["privilege_scope"]),
    ],
)
def test_patch_refuses_bad_input_per_field(pat, own, changes, expected):
    with unchanged():
        assert_error(pat.patch(url(own), changes, format="json"), 400, errors=expected)


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


# --- access-paths: register (idempotent) ----------------------------------------------


@pytest.fixture
def pipeline_body(now):
    return path_data(
        external_id="arn:aws:iam::123:role/deployer",
        owner_team="payments",
        steward_team="platform",
        created_via="pipeline",
        created_by_ref="github-actions/deploy#42",
        tags=["soc2", "pci"],
        expires_at=(now + 60 * DAY).isoformat(),
        last_rotated_at=(now - DAY).isoformat(),
        rotation_days=30,
        credential_lifetime="short_lived",
    )


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
    """As for any path the caller cannot see: no oracle (tests/test_no_oracles.py)."""
    otto = session(personas.users.otto)
    body = {"system": own.system, "external_id": own.external_id, "owner_team": "data"}
    with unchanged():
        assert_error(otto.post(url(action="register"), body, format="json"), 404)


# --- access-paths: claim --------------------------------------------------------------


def test_claim_an_unowned_path(pat, unowned, personas):
    response = pat.post(
        url(unowned, "claim"),
        {"team": "payments", "reason": CLAIM_REASON},
        format="json",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["team"] == "payments" and response.json()["status"] == "pending"
    assert response.json()["requested_by"] == "pat"
    unowned.refresh_from_db()
    assert unowned.state == AccessPath.State.CLAIM_PENDING and unowned.version == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"team": "payments"}, {"reason": "This field is required."}),
        ({"team": "payments", "reason": "tbd"}, {"reason": errors.JUSTIFICATION_PLACEHOLDER}),
        ({"team": "no-such-team", "reason": CLAIM_REASON}, ["team"]),
        ({"reason": CLAIM_REASON}, ["team"]),
        (
            {"team": "payments", "reason": CLAIM_REASON, "proposed_expires_at": "2001-01-01"},
            {"proposed_expires_at": errors.EXPIRY_IN_PAST},
        ),
    ],
)
def test_claim_refuses_bad_input_per_field(pat, unowned, body, expected):
    with unchanged():
        assert_error(pat.post(url(unowned, "claim"), body, format="json"), 400, errors=expected)


def test_claim_for_a_team_you_are_not_in_is_403(pat, unowned):
    with unchanged():
        assert_error(
            pat.post(
                url(unowned, "claim"), {"team": "data", "reason": CLAIM_REASON}, format="json"
            ),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_claim_of_an_owned_path_is_409(pat, own):
    with unchanged():
        assert_error(
            pat.post(
                url(own, "claim"), {"team": "payments", "reason": CLAIM_REASON}, format="json"
            ),
            409,
            errors.PATH_NOT_CLAIMABLE.format(state="active"),
        )


def test_a_second_claim_by_the_same_team_is_409(pat, lee, unowned):
    body = {"team": "payments", "reason": CLAIM_REASON}
    assert pat.post(url(unowned, "claim"), body, format="json").status_code == 201
    with unchanged():
        assert_error(
            lee.post(url(unowned, "claim"), body, format="json"), 409, errors.CLAIM_ALREADY_PENDING
        )


def test_claim_with_a_stale_if_match_is_412(pat, unowned):
    body = {"team": "payments", "reason": CLAIM_REASON}
    with unchanged():
        assert_error(
            pat.post(url(unowned, "claim"), body, format="json", HTTP_IF_MATCH='W/"9"'),
            412,
            errors.STALE_VERSION.format(expected=9, actual=1),
        )


def test_claim_of_an_invisible_path_is_404(personas, unowned):
    otto = session(personas.users.otto)
    body = {"team": "payments", "reason": CLAIM_REASON}
    with unchanged():
        assert_error(otto.post(url(unowned, "claim"), body, format="json"), 404)


# --- access-paths: attest -------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"least_privilege": False}, {"decision": errors.CONFIRMATIONS_REQUIRED_TO_KEEP}),
        ({"still_needed": False}, {"decision": errors.NOT_NEEDED_MUST_REVOKE}),
        (
            {"decision": "reduce_scope", "least_privilege": False},
            {"note": errors.REDUCE_SCOPE_NEEDS_NOTE},
        ),
        ({"decision": "forget"}, ["decision"]),
        ({"no_human_use": None}, ["no_human_use"]),
        ({"note": "token ghp_" + "a" * 36}, ["note"]),
    ],
)
def test_attest_refuses_bad_input_per_field(pat, own, changes, expected):
    with unchanged():
        assert_error(
            pat.post(url(own, "attest"), KEEP | changes, format="json"), 400, errors=expected
        )


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


# --- access-paths: transfer -----------------------------------------------------------


def test_transfer_offers_the_path(lee, own):
    response = lee.post(
        url(own, "transfer"),
        {"to_team": "data", "reason": TRANSFER_REASON},
        format="json",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["from_team"] == "payments" and response.json()["to_team"] == "data"
    assert response.json()["status"] == "pending"
    own.refresh_from_db()
    assert own.owner_team.slug == "payments"  # until data accepts
    assert Notification.objects.filter(team__slug="data", path=own).exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"to_team": "payments", "reason": TRANSFER_REASON}, {"to_team": errors.SAME_TEAM}),
        ({"to_team": "no-such-team", "reason": TRANSFER_REASON}, ["to_team"]),
        ({"to_team": "data"}, ["reason"]),
        ({"to_team": "data", "reason": "  "}, ["reason"]),
    ],
)
def test_transfer_refuses_bad_input_per_field(lee, own, body, expected):
    with unchanged():
        assert_error(lee.post(url(own, "transfer"), body, format="json"), 400, errors=expected)


def test_transfer_by_a_member_who_is_not_lead_is_403(pat, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    with unchanged():
        assert_error(pat.post(url(own, "transfer"), body, format="json"), 403, errors.NOT_A_LEAD)


def test_a_second_pending_transfer_is_409(lee, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    assert lee.post(url(own, "transfer"), body, format="json").status_code == 201
    with unchanged():
        assert_error(
            lee.post(url(own, "transfer"), body | {"to_team": "growth"}, format="json"),
            409,
            errors.TRANSFER_ALREADY_PENDING,
        )


def test_transfer_of_an_unowned_path_is_409(sam, unowned):
    with unchanged():
        assert_error(
            sam.post(
                url(unowned, "transfer"),
                {"to_team": "data", "reason": TRANSFER_REASON},
                format="json",
            ),
            409,
            errors.PATH_NOT_OWNED,
        )


def test_transfer_with_a_stale_if_match_is_412(lee, own):
    body = {"to_team": "data", "reason": TRANSFER_REASON}
    with unchanged():
        assert_error(
            lee.post(url(own, "transfer"), body, format="json", HTTP_IF_MATCH='W/"5"'),
            412,
            errors.STALE_VERSION.format(expected=5, actual=1),
        )


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


def test_unsupported_methods_are_405(sam, own):
    with unchanged():
        assert_error(sam.delete(url(own)), 405)
        assert_error(sam.put(url(own), path_data(), format="json"), 405)


# --- claims ---------------------------------------------------------------------------


def claim_url(claim: Claim, action: str | None = None) -> str:
    return reverse(f"claim-{action}" if action else "claim-detail", args=[claim.pk])


@pytest.fixture
def claims(personas, unowned):
    """Payments (by pat) and data (by dana) compete for the same unowned path."""
    make = services.path_claim
    ours = make(actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON)
    theirs = make(actor=personas.dana, path=unowned, team=personas.teams.data, reason=CLAIM_REASON)
    return ours, theirs


def test_claims_list_and_retrieve(pat, claims):
    ours, theirs = claims
    assert {item["id"] for item in results(pat.get(reverse("claim-list")))} == {ours.pk, theirs.pk}
    data = pat.get(claim_url(ours)).json()
    assert (data["team"], data["status"], data["requested_by"]) == ("payments", "pending", "pat")


def test_approve_makes_the_team_owner_and_rejects_the_others(sam, claims, unowned):
    ours, theirs = claims
    response = sam.post(claim_url(ours, "approve"), {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    path = sam.get(url(unowned)).json()
    assert (path["owner_team"], path["status"]) == ("payments", "active")
    theirs.refresh_from_db()
    assert theirs.status == Claim.Status.REJECTED
    assert theirs.decision_reason == ANOTHER_CLAIM_APPROVED


def test_approve_of_a_decided_claim_is_409(sam, claims):
    ours, _ = claims
    assert sam.post(claim_url(ours, "approve"), {}, format="json").status_code == 200
    with unchanged():
        assert_error(
            sam.post(claim_url(ours, "approve"), {}, format="json"),
            409,
            errors.CLAIM_NOT_PENDING.format(status="approved"),
        )


def test_approve_by_a_non_reviewer_is_403(lee, claims):
    with unchanged():
        assert_error(
            lee.post(claim_url(claims[0], "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )


def test_approve_of_your_own_claim_is_403(sam, personas, make_path, now):
    path = make_path(now=now, owner_team=None, justification="", ticket_url="")
    mine = services.path_claim(
        actor=personas.sam, path=path, team=personas.teams.security, reason=CLAIM_REASON
    )
    with unchanged():
        assert_error(
            sam.post(claim_url(mine, "approve"), {}, format="json"),
            403,
            errors.SELF_REVIEW_FORBIDDEN,
        )


def test_approve_refuses_a_secret_in_the_reason(sam, claims):
    with unchanged():
        assert_error(
            sam.post(
                claim_url(claims[0], "approve"), {"reason": "see ghp_" + "b" * 36}, format="json"
            ),
            400,
            errors=["reason"],
        )


def test_reject_returns_the_path_to_unowned(sam, personas, unowned):
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    response = sam.post(claim_url(claim, "reject"), {"reason": DECISION_REASON}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_reason"] == DECISION_REASON
    assert sam.get(url(unowned)).json()["status"] == "unowned"


def test_reject_needs_a_reason(sam, claims):
    with unchanged():
        assert_error(
            sam.post(claim_url(claims[0], "reject"), {}, format="json"), 400, errors=["reason"]
        )


def test_reject_of_a_decided_claim_is_409(sam, claims):
    ours, _ = claims
    sam.post(claim_url(ours, "reject"), {"reason": DECISION_REASON}, format="json")
    with unchanged():
        assert_error(
            sam.post(claim_url(ours, "reject"), {"reason": DECISION_REASON}, format="json"),
            409,
            errors.CLAIM_NOT_PENDING.format(status="rejected"),
        )


def test_unknown_claim_is_404(sam, personas):
    with unchanged():
        assert_error(sam.get(reverse("claim-detail", args=[999999])), 404)
        assert_error(sam.post(reverse("claim-approve", args=[999999]), {}, format="json"), 404)


# --- transfers ------------------------------------------------------------------------


def transfer_url(transfer: Transfer, action: str | None = None) -> str:
    return reverse(f"transfer-{action}" if action else "transfer-detail", args=[transfer.pk])


@pytest.fixture
def offer(personas, own):
    return services.path_transfer(
        actor=personas.lee, path=own, to_team=personas.teams.data, reason=TRANSFER_REASON
    )


def test_transfers_list_and_retrieve(dana, offer):
    assert [item["id"] for item in results(dana.get(reverse("transfer-list")))] == [offer.pk]
    data = dana.get(transfer_url(offer)).json()
    assert (data["from_team"], data["to_team"], data["status"]) == ("payments", "data", "pending")


def test_accept_moves_ownership(dana, offer, own):
    response = dana.post(transfer_url(offer, "accept"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    assert dana.get(url(own)).json()["owner_team"] == "data"


def test_decline_keeps_the_owner(dana, offer, own):
    response = dana.post(transfer_url(offer, "decline"), {"reason": "Not ours."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "declined"
    own.refresh_from_db()
    assert own.owner_team.slug == "payments" and own.version == 1


def test_decline_needs_a_reason(dana, offer):
    with unchanged():
        assert_error(
            dana.post(transfer_url(offer, "decline"), {}, format="json"), 400, errors=["reason"]
        )


def test_a_decided_transfer_is_409(dana, offer):
    assert dana.post(transfer_url(offer, "accept"), format="json").status_code == 200
    with unchanged():
        assert_error(
            dana.post(transfer_url(offer, "accept"), format="json"),
            409,
            errors.TRANSFER_NOT_PENDING.format(status="accepted"),
        )
        assert_error(
            dana.post(transfer_url(offer, "decline"), {"reason": "Not ours."}, format="json"),
            409,
            errors.TRANSFER_NOT_PENDING.format(status="accepted"),
        )


def test_accept_by_the_offering_team_is_403(lee, offer):
    with unchanged():
        assert_error(
            lee.post(transfer_url(offer, "accept"), format="json"), 403, errors.NOT_A_MEMBER_OF_TEAM
        )


def test_accept_by_the_receiving_teams_token_is_403(personas, offer):
    data_ci = bearer(issue(personas, team="data")[1])
    with unchanged():
        assert_error(
            data_ci.post(transfer_url(offer, "accept"), format="json"), 403, errors.HUMAN_REQUIRED
        )


def test_transfer_invisible_is_404(personas, offer):
    gwen = session(personas.users.gwen)
    with unchanged():
        assert_error(gwen.get(transfer_url(offer)), 404)
        assert_error(gwen.post(transfer_url(offer, "accept"), format="json"), 404)


# --- teams ----------------------------------------------------------------------------


def test_teams_list_and_retrieve(pat, personas):
    slugs = {item["slug"] for item in results(pat.get(reverse("team-list")))}
    assert slugs == {"security", "platform", "payments", "data", "growth"}
    data = pat.get(reverse("team-detail", args=["data"])).json()
    assert data == {
        "slug": "data",
        "name": "Data",
        "kind": "product",
        "email": "data@example.com",
        "parent": None,
        "is_active": True,
    }


def test_team_members_for_the_team_itself(pat, personas):
    response = pat.get(reverse("team-members", args=["payments"]))
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.json()} == {
        ("pat", "member"),
        ("lee", "lead"),
    }


def test_team_members_of_another_team_are_404(pat, personas):
    assert_error(pat.get(reverse("team-members", args=["data"])), 404)


def test_unknown_team_is_404(pat, personas):
    assert_error(pat.get(reverse("team-detail", args=["nope"])), 404)
    assert_error(pat.get(reverse("team-members", args=["nope"])), 404)


# --- exceptions -----------------------------------------------------------------------


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


# --- audit events and notifications ---------------------------------------------------


def test_audit_events_newest_first_and_scoped(pat, own, other):
    events = results(pat.get(reverse("audit-event-list")))
    assert events and all(e["path"] == str(own.pk) for e in events)
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    one = events[0]
    assert pat.get(reverse("audit-event-detail", args=[one["seq"]])).json() == one


def test_audit_events_filtered_by_path(sam, own, other):
    events = results(sam.get(reverse("audit-event-list") + f"?path={other.pk}"))
    assert {e["path"] for e in events} == {str(other.pk)}


def test_a_bad_audit_path_filter_is_400(sam, own):
    response = sam.get(reverse("audit-event-list") + "?path=nope")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_bad_audit_path_filter_names_the_field(sam, own):
    assert_error(sam.get(reverse("audit-event-list") + "?path=nope"), 400, errors=["path"])


def test_audit_event_records_the_request_id_and_the_token(ci, own):
    response = ci.patch(url(own), {"name": "renamed"}, format="json", HTTP_X_REQUEST_ID="job-7")
    assert response["X-Request-ID"] == "job-7"
    event = AuditEvent.objects.latest("seq")
    assert (event.action, event.request_id, event.actor_type) == (
        "access_path.updated",
        "job-7",
        "token",
    )
    assert event.actor_label == "token ci-2 (payments)"


def test_audit_event_of_an_invisible_path_is_404(pat, other):
    event = AuditEvent.objects.filter(path=other).first()
    assert_error(pat.get(reverse("audit-event-detail", args=[event.seq])), 404)


def test_notifications_list_and_retrieve(dana, pat, offer):
    items = results(dana.get(reverse("notification-list")))
    assert items and {n["team"] for n in items} == {"data"}
    assert items[0]["reason"] == "transfer_requested"
    assert dana.get(reverse("notification-detail", args=[items[0]["id"]])).json() == items[0]
    assert results(pat.get(reverse("notification-list"))) == []
    assert_error(pat.get(reverse("notification-detail", args=[items[0]["id"]])), 404)


# --- me -------------------------------------------------------------------------------


def test_me_for_a_person(pat, sam):
    assert pat.get(reverse("me")).json() == {
        "kind": "user",
        "username": "pat",
        "token": None,
        "teams": [{"slug": "payments", "kind": "product", "role": "member"}],
        "security_reviewer": False,
    }
    assert sam.get(reverse("me")).json()["security_reviewer"] is True


def test_me_for_a_team_token(personas):
    token, secret = issue(personas, scopes=["read"])
    data = bearer(secret).get(reverse("me")).json()
    assert data["kind"] == "token" and data["username"] is None
    assert data["token"]["prefix"] == token.prefix and data["token"]["team"] == "payments"
    assert data["token"]["scopes"] == ["read"]
    assert data["teams"] == [{"slug": "payments", "kind": "product", "role": "integration"}]
    assert data["security_reviewer"] is False


def test_me_requires_credentials():
    assert_error(APIClient().get(reverse("me")), 401)


# --- API tokens -----------------------------------------------------------------------


def test_token_format_is_recognisable_and_checksummed(personas):
    token, secret = issue(personas)
    assert secret.startswith("nhir_") and len(secret) == 41
    assert token_format.is_well_formed(secret)
    assert token.prefix == secret[: token_format.DISPLAY_PREFIX_LENGTH]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert not token_format.is_well_formed(flipped)
    assert bearer(secret).get(reverse("me")).status_code == 200
    assert_error(bearer(flipped).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_only_a_hash_of_the_token_is_stored(personas, own):
    token, secret = issue(personas)
    personal, personal_secret = issue(personas, user=personas.users.pat)
    bearer(secret).patch(url(own), {"name": "renamed"}, format="json")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert personal.token_hash == hashlib.sha256(personal_secret.encode()).hexdigest()
    for raw in (secret, personal_secret):
        unseen = raw[token_format.DISPLAY_PREFIX_LENGTH :]  # past the prefix shown in lists
        for model in apps.get_models():
            for row in model.objects.values_list():
                assert raw not in str(row) and unseen not in str(row), model.__name__
    for event in AuditEvent.objects.all():
        assert secret not in str(event.changes) and secret not in event.reason


def test_tokens_never_reach_the_logs(personas, own, caplog):
    caplog.set_level(logging.DEBUG)
    _, secret = issue(personas, scopes=["read"])
    client = bearer(secret)
    client.get(reverse("me"))
    client.patch(url(own), {"name": "x"}, format="json")  # 403, logged as a warning
    bearer(secret[:-1] + "0").get(reverse("me"))  # 401, logged as a warning
    assert caplog.records
    assert secret[: token_format.DISPLAY_PREFIX_LENGTH + 4] not in caplog.text


def test_the_token_is_never_shown_again(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    for response in (client.get(reverse("me")), client.get(url(token.access_path))):
        assert response.status_code == 200
        assert secret not in response.content.decode()


def test_a_read_only_token_reads_but_cannot_write(personas, own, unowned):
    client = bearer(issue(personas, scopes=["read"])[1])
    assert client.get(url(own)).status_code == 200
    refusal = MISSING_SCOPE.format(scope="write")
    with unchanged():
        assert_error(client.patch(url(own), {"name": "x"}, format="json"), 403, refusal)
        assert_error(client.post(url(), path_data(), format="json"), 403, refusal)
        body = {"team": "payments", "reason": CLAIM_REASON}
        assert_error(client.post(url(unowned, "claim"), body, format="json"), 403, refusal)


@pytest.mark.parametrize("days", [0, -1, MAX_TOKEN_DAYS + 1, 366, 1000])
def test_token_lifetime_is_one_to_365_days(personas, days):
    with unchanged(), pytest.raises(errors.Invalid) as refusal:
        issue(personas, expires_in_days=days)
    assert refusal.value.errors == {"expires_in_days": [errors.TOKEN_LIFETIME.format(days=365)]}


def test_a_year_long_token_is_allowed(personas, now):
    token, _ = issue(personas, expires_in_days=365, now=now)
    assert token.expires_at == now + 365 * DAY
    assert token.access_path.expires_at == token.expires_at


def test_last_used_at_is_recorded(personas):
    token, secret = issue(personas)
    assert token.last_used_at is None
    before = timezone.now()
    assert bearer(secret).get(reverse("me")).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before


def test_a_revoked_token_is_refused(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    token_revoke(actor=personas.system, token=token, reason="Rotated.")
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)
    assert AccessPath.objects.get(pk=token.access_path_id).state == AccessPath.State.REVOKED


def test_an_expired_token_is_refused(personas, now):
    token, secret = issue(personas, now=now - 100 * DAY, expires_in_days=30)
    assert token.expires_at < now
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_an_expired_token_stops_at_its_expiry(personas, now):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(created_at=now - DAY, expires_at=now - SECOND)
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_each_token_is_registered_as_an_access_path(personas, lee):
    token, _ = issue(personas)
    path = lee.get(url(token.access_path)).json()
    assert (path["kind"], path["system"], path["owner_team"]) == (
        "api_token",
        REGISTRY_SYSTEM,
        "payments",
    )
    assert path["external_id"] == token.prefix
    assert path["expires_at"] == token.expires_at.isoformat().replace("+00:00", "Z")
    personal, _ = issue(personas, user=personas.users.dana)
    assert personal.access_path.owner_team == personas.teams.data


def test_revoking_the_tokens_path_disables_the_token(personas, lee):
    token, secret = issue(personas)
    client = bearer(secret)
    assert client.get(reverse("me")).status_code == 200
    response = lee.post(
        url(token.access_path, "revoke"), {"reason": "Leaked in a log."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert_error(client.get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_a_token_of_an_offboarded_team_is_refused(personas):
    _, secret = issue(personas)
    services.team_deactivate(actor=personas.system, team=personas.teams.payments, reason="Gone.")
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_last_used_at_is_written_at_most_once_a_minute(personas):
    token, secret = issue(personas)
    client = bearer(secret)
    client.get(reverse("me"))
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    client.get(reverse("me"))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first


def test_a_token_whose_path_has_expired_is_refused(personas, now):
    token, secret = issue(personas)
    # The owners shortened the path's expiry, and that moment has now passed.
    AccessPath.objects.filter(pk=token.access_path_id).update(
        expires_at=now - dt.timedelta(minutes=1)
    )
    assert_error(bearer(secret).get(reverse("me")), 401, errors.INVALID_TOKEN)


def test_a_team_token_registers_updates_and_claims_for_its_team(ci, unowned, pipeline_body):
    created = ci.post(url(action="register"), pipeline_body, format="json")
    assert created.status_code == 201
    path = AccessPath.objects.get(pk=created.json()["id"])
    assert ci.patch(url(path), {"consumers": "deploy job"}, format="json").status_code == 200
    claim = ci.post(
        url(unowned, "claim"), {"team": "payments", "reason": CLAIM_REASON}, format="json"
    )
    assert claim.status_code == 201
    assert claim.json()["requested_by"] == "token ci-2 (payments)"


def test_a_team_token_never_attests_nor_decides(personas, ci, own, unowned):
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    with unchanged():
        assert_error(ci.post(url(own, "attest"), KEEP, format="json"), 403, errors.HUMAN_REQUIRED)
        assert_error(
            ci.post(claim_url(claim, "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )
        assert_error(
            ci.post(url(unowned, "claim"), {"team": "data", "reason": CLAIM_REASON}, format="json"),
            403,
            errors.NOT_A_MEMBER_OF_TEAM,
        )


def test_a_security_teams_token_sees_everything_but_cannot_approve(personas, other, unowned):
    client = bearer(issue(personas, team="security")[1])
    claim = services.path_claim(
        actor=personas.pat, path=unowned, team=personas.teams.payments, reason=CLAIM_REASON
    )
    assert client.get(url(other)).status_code == 200
    with unchanged():
        assert_error(
            client.post(claim_url(claim, "approve"), {}, format="json"),
            403,
            errors.NOT_A_SECURITY_REVIEWER,
        )


def test_a_personal_token_acts_as_its_person(personas, own):
    _, secret = issue(personas, user=personas.users.pat)
    client = bearer(secret)
    me = client.get(reverse("me")).json()
    assert (me["kind"], me["username"]) == ("token", "pat")
    response = client.post(url(own, "attest"), KEEP, format="json")
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.latest("seq")
    assert event.actor_user == personas.users.pat and event.actor_type == "token"


def test_a_personal_token_for_someone_in_no_team_is_refused(personas):
    with unchanged(), pytest.raises(errors.Invalid):
        issue(personas, user=personas.users.otto)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer nhir_short", "Bearer " + "nhir_" + "x" * 36, "Token abc"],
)
def test_malformed_credentials_are_401(personas, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(reverse("me"))
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_session_write_without_a_csrf_token_is_refused(personas, own):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas.users.pat)
    assert client.get(url(own)).status_code == 200
    with unchanged():
        response = client.patch(url(own), {"name": "x"}, format="json")
        assert_error(response, 403)
        assert "CSRF" in response.json()["detail"]


# --- manage.py create_api_token -------------------------------------------------------


def run_create_api_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_token_prints_the_token_alone_on_its_last_line(personas):
    out, err = run_create_api_token(
        "--team",
        "payments",
        "--name",
        "deployer",
        "--scopes",
        "read,write",
        "--expires-in-days",
        "30",
    )
    secret = out.strip().splitlines()[-1]
    assert token_format.is_well_formed(secret) and secret == out.strip()
    assert secret not in err
    token = ApiToken.objects.get(token_hash=token_format.hash_token(secret))
    assert (token.team, token.scopes, token.name) == (
        personas.teams.payments,
        ["read", "write"],
        "deployer",
    )
    assert token.expires_at - token.created_at == 30 * DAY
    me = bearer(secret).get(reverse("me")).json()
    assert me["token"]["team"] == "payments"


def test_create_api_token_for_a_user(personas):
    out, _ = run_create_api_token("--user", "dana", "--name", "laptop", "--scopes", "read")
    secret = out.strip().splitlines()[-1]
    me = bearer(secret).get(reverse("me")).json()
    assert (me["username"], me["token"]["scopes"]) == ("dana", ["read"])


@pytest.mark.parametrize(
    "args",
    [
        ("--team", "nope", "--name", "x"),
        ("--user", "nobody", "--name", "x"),
        ("--team", "payments", "--name", "x", "--expires-in-days", "366"),
        ("--team", "payments", "--name", "x", "--scopes", "admin"),
        ("--team", "payments", "--name", " "),
    ],
)
def test_create_api_token_refusals(personas, args):
    with unchanged(), pytest.raises(CommandError):
        run_create_api_token(*args)
    assert not ApiToken.objects.exists()


# --- schema and docs ------------------------------------------------------------------


def test_schema_is_an_openapi_3_document():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for route in (
        "/api/v1/access-paths/",
        "/api/v1/access-paths/register/",
        "/api/v1/access-paths/{id}/attest/",
        "/api/v1/claims/{id}/approve/",
        "/api/v1/transfers/{id}/accept/",
        "/api/v1/teams/{slug}/members/",
        "/api/v1/exceptions/{id}/reject/",
        "/api/v1/audit-events/",
        "/api/v1/notifications/",
        "/api/v1/me/",
    ):
        assert route in paths, route
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"


def test_docs_use_only_vendored_static_assets():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets, "the page loads no assets at all"
    # Vendored files, and Swagger UI's starter script served by the page's own view
    # (the split view: no inline script, see tests/test_csp_everywhere.py).
    assert all(a.startswith("/static/") or a.startswith("/api/docs/?script") for a in assets)
    assert not re.search(r"https?://", html)
    starter = APIClient().get("/api/docs/?script=").content.decode()
    assert "/api/schema/" in starter
    assert not re.search(r"https?://", starter)
