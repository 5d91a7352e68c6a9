"""The access-paths resource: list (filters, ordering, cursor pagination, the page-size
cap), create and retrieve, each refusal in the error shape and changing nothing.

Who may do what to which object, persona by persona, is tests/api/test_authorization_*.py."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, PolicyException
from registry.rules import errors
from tests.api.helpers import (
    DAY,
    DECISION_REASON,
    EXCEPTION_REASON,
    REVOKE_REASON,
    SECOND,
    assert_error,
    names,
    results,
    session,
    unchanged,
    url,
)
from tests.conftest import JUSTIFICATION, path_data

pytestmark = pytest.mark.django_db

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


def test_unsupported_methods_are_405(sam, own):
    with unchanged():
        assert_error(sam.delete(url(own)), 405)
        assert_error(sam.put(url(own), path_data(), format="json"), 405)
