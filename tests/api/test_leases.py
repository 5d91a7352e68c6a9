"""`/api/v1/access-paths/{id}/leases/`: batches recorded by the issuer's teams, the
issuance read back, bad input named, outsiders not told the path exists, and a body
limit that takes a 5,000-lease batch and nothing much larger (here or elsewhere)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from api.leases import BODY_BYTES_PER_LEASE
from api.parsers import BODY_TOO_LARGE
from registry.models import AuditEvent, Lease, LeaseHour
from registry.rules import errors
from registry.rules.policies import current_policy
from tests.api.helpers import assert_error, bearer, issue, unchanged
from tests.support_leases import lease_items, make_issuer

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def issuer(own, now):
    return make_issuer(own, now=now, max_lease_seconds=3600)


def leases_url(path) -> str:
    return reverse("access-path-leases", args=[path.pk])


def test_a_pipeline_records_a_batch_and_reads_the_issuance(ci, pat, issuer, now):
    items = lease_items(120, start=now - 2 * HOUR, spacing=MINUTE, ttl=900)
    items[-1] |= {"ttl_seconds": 5400, "subject": "agent:payments/reconciler"}
    response = ci.post(leases_url(issuer), {"leases": items}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"recorded": 120, "duplicates": 0, "over_max": 1}

    again = ci.post(leases_url(issuer), {"leases": items[:20]}, format="json")
    assert again.json() == {"recorded": 0, "duplicates": 20, "over_max": 0}

    summary = pat.get(leases_url(issuer))
    assert summary.status_code == 200
    body = summary.json()
    assert body["issuer_kind"] == "vault_role"
    assert body["max_lease_seconds"] == 3600
    assert (body["leases_total"], body["leases_24h"], body["leases_30d"]) == (120, 120, 120)
    assert body["longest_seconds"] == 5400
    assert body["typical_up_to_seconds"] == 900
    assert body["average_seconds"] == round((119 * 900 + 5400) / 120)
    assert body["last_subject"] == "agent:payments/reconciler"
    last = dt.datetime.fromisoformat(body["last_issued_at"].replace("Z", "+00:00"))
    assert last == now - 2 * HOUR + 119 * MINUTE
    assert [row["leases"] for row in body["recorded_by"]] == [120]
    assert body["recorded_by"][0]["label"].startswith("token ci")
    assert len(body["series"]) == 48
    assert sum(point["leases"] for point in body["series"]) == 120


def test_a_bad_item_is_a_400_naming_it_and_nothing_is_written(ci, issuer, now):
    items = lease_items(10, start=now - HOUR)
    items[3]["ttl_seconds"] = -5
    items[8]["issued_at"] = "last tuesday"
    with unchanged():
        response = ci.post(leases_url(issuer), {"leases": items}, format="json")
    body = assert_error(response, 400)
    assert body["errors"] == {
        "leases[3].ttl_seconds": [errors.LEASE_TTL.format(limit=2**31 - 1)],
        "leases[8].issued_at": [errors.LEASE_ISSUED_AT],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [({"leases": "many"}, "leases"), ({}, "leases"), ({"leases": [], "issuer": "x"}, "issuer")],
)
def test_a_body_that_is_no_batch_is_a_400(ci, issuer, body, field):
    with unchanged():
        response = ci.post(leases_url(issuer), body, format="json")
    assert field in assert_error(response, 400)["errors"]


def test_a_credential_as_lease_ref_is_refused_and_not_echoed(ci, issuer, now):
    secret = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"
    items = lease_items(5, start=now - HOUR)
    items[2]["lease_ref"] = secret
    with unchanged():
        response = ci.post(leases_url(issuer), {"leases": items}, format="json")
    body = assert_error(response, 400)
    assert list(body["errors"]) == ["leases[2].lease_ref"]
    assert secret not in response.content.decode()


def test_another_teams_token_finds_no_issuer(personas, issuer, now):
    data_ci = bearer(issue(personas, team="data")[1])
    url = leases_url(issuer)
    with unchanged():
        response = data_ci.post(url, {"leases": lease_items(2, start=now - HOUR)}, format="json")
    assert_error(response, 404)
    assert_error(data_ci.get(url), 404)


def test_a_path_that_is_not_an_issuer_is_a_409(ci, own, now):
    response = ci.post(leases_url(own), {"leases": lease_items(2, start=now - HOUR)}, format="json")
    assert_error(response, 409, errors.LEASES_NOT_AN_ISSUER)
    assert not Lease.objects.exists()


def test_a_revoked_issuer_is_a_409(ci, lee, issuer, now):
    revoke = reverse("access-path-revoke", args=[issuer.pk])
    assert lee.post(revoke, {"reason": "The role was retired."}, format="json").status_code == 200
    response = ci.post(
        leases_url(issuer), {"leases": lease_items(2, start=now - HOUR)}, format="json"
    )
    assert_error(response, 409, errors.LEASES_ISSUER_NOT_ACTIVE.format(state="revoked"))


def test_a_full_batch_of_the_longest_leases_fits_the_body_limit(ci, issuer, now):
    limit = current_policy().max_leases_per_request
    items = lease_items(limit, start=now - HOUR, spacing=dt.timedelta(milliseconds=500))
    for index, item in enumerate(items):
        item["lease_ref"] = f"vault:aws/creds/deploy/{index:06d}/".ljust(200, "x")
        item["subject"] = "ci:payments/deploy/".ljust(200, "y")
    response = ci.post(leases_url(issuer), {"leases": items}, format="json")
    assert response.status_code == 201, response.content[:500]
    assert response.json()["recorded"] == limit
    assert sum(LeaseHour.objects.values_list("leases", flat=True)) == limit
    assert AuditEvent.objects.filter(action="leases.recorded").count() == 1


def test_a_body_over_the_limit_is_a_413_here_and_elsewhere(ci, issuer, own, now, settings):
    limit = current_policy().max_leases_per_request * BODY_BYTES_PER_LEASE
    padding = "z" * (limit + 10)
    with unchanged():
        response = ci.post(leases_url(issuer), {"leases": [], "pad": padding}, format="json")
    assert_error(response, 413, BODY_TOO_LARGE.format(limit=limit))
    # Every other endpoint keeps Django's own limit on a body (2.5 MB unless set).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    detail = reverse("access-path-detail", args=[own.pk])
    with unchanged():
        response = ci.patch(detail, {"consumers": "c" * 2000}, format="json")
    assert_error(response, 413, BODY_TOO_LARGE.format(limit=1000))


def test_reading_the_issuance_takes_a_few_queries(
    pat, ci, issuer, now, django_assert_max_num_queries
):
    for day in range(3):
        start = now - dt.timedelta(days=day, hours=4)
        items = lease_items(200, start=start, spacing=MINUTE, offset=day * 1000)
        assert ci.post(leases_url(issuer), {"leases": items}, format="json").status_code == 201
    with django_assert_max_num_queries(12):
        response = pat.get(leases_url(issuer))
    assert response.json()["leases_total"] == 600
