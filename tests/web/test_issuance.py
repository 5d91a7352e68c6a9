"""The issuer's page: its issuance card (volume, longest and typical lease, last
issuance, who recorded), in a few queries whatever the volume; no card on other paths."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.services.leases import leases_record
from tests.support_leases import lease_items, make_issuer
from tests.web.helpers import detail_url

pytestmark = pytest.mark.django_db

MINUTE = dt.timedelta(minutes=1)


def test_the_issuer_page_shows_its_issuance(client, personas, make_path):
    now = timezone.now()
    issuer = make_issuer(make_path(name="vault-deployer", now=now), now=now, max_lease_seconds=1800)
    items = lease_items(90, start=now - 3 * dt.timedelta(hours=1), spacing=MINUTE, ttl=900)
    items[-1] |= {"ttl_seconds": 7200, "subject": "agent:payments/reconciler"}
    leases_record(actor=personas.payments_ci, issuer=issuer, leases=items, now=now)
    client.force_login(personas.users.pat)
    page = client.get(detail_url(issuer)).content.decode()
    assert 'id="issuance-heading"' in page
    assert "90 in the last 24 hours" in page
    assert "2 h" in page and "over the maximum" in page  # the longest lease
    assert "up to 15 min" in page  # the typical lease
    assert "agent:payments/reconciler" in page  # the last issuance's subject
    assert "token ci (payments) (90)" in page  # who recorded them
    assert "Vault role" in page


def test_an_issuer_without_leases_says_how_to_record_them(client, personas, make_path):
    now = timezone.now()
    issuer = make_issuer(make_path(now=now), now=now)
    client.force_login(personas.users.pat)
    page = client.get(detail_url(issuer)).content.decode()
    assert "No leases recorded yet" in page
    assert f"/api/v1/access-paths/{issuer.pk}/leases/" in page


def test_other_paths_have_no_issuance_card(client, personas, make_path):
    client.force_login(personas.users.pat)
    page = client.get(detail_url(make_path(now=timezone.now()))).content.decode()
    assert "issuance-heading" not in page


def test_the_card_takes_the_same_queries_for_many_leases(
    client, personas, make_path, django_assert_max_num_queries
):
    now = timezone.now()
    issuer = make_issuer(make_path(now=now), now=now)
    record = lambda items: leases_record(  # noqa: E731
        actor=personas.payments_ci, issuer=issuer, leases=items, now=now
    )
    record(lease_items(5, start=now - dt.timedelta(hours=1)))
    client.force_login(personas.users.pat)
    with django_assert_max_num_queries(60) as few:
        assert client.get(detail_url(issuer)).status_code == 200
    for day in range(1, 6):
        start = now - dt.timedelta(days=day)
        record(lease_items(400, start=start, spacing=MINUTE, offset=day * 1000))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(detail_url(issuer)).status_code == 200
