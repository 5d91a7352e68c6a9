"""scim2-tester (a third-party SCIM 2.0 compliance checker) against a live server: its
discovery, CRUD, PATCH and query checks must all pass. Its results are printed per
check (run with -s to see them); docs/scim.md reports them."""

from __future__ import annotations

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

pytestmark = pytest.mark.django_db(transaction=True)

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}


def test_scim2_tester_passes(live_server, scim_token, settings):
    settings.BASE_URL = live_server.url
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {scim_token[1]}"},
        timeout=30,
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    for result in results:
        kind = result.resource_type or "-"
        print(f"{result.status.name:10} {kind:6} {result.title}: {result.reason}")
        if result.status not in PASSING:
            print("DATA", result.data)
    failed = [
        f"{r.resource_type or '-'} {r.title}: {r.reason}"
        for r in results
        if r.status not in PASSING
    ]
    assert len(results) > 20
    assert failed == []
