"""The signed-in inventory page of the foundation (the full UI is its own issue)."""

import pytest
from django.urls import reverse

from registry.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_login_page_has_labelled_fields(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_inventory_requires_sign_in(client):
    response = client.get(reverse("registry:path-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_in_then_see_own_paths_with_status(client, personas, make_path):
    make_path(name="payments-ledger-sync")
    make_path(name="data-etl-loader", owner_team=personas.teams.data)
    client.post(reverse("login"), {"username": "pat", "password": "nhi-demo-pass"})
    response = client.get(reverse("registry:path-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "payments-ledger-sync" in html
    assert "data-etl-loader" not in html  # another team's path
    assert 'class="badge status-active"' in html


def test_outsider_sees_no_paths(client, personas, make_path):
    make_path(name="payments-ledger-sync")
    client.force_login(personas.users.otto)
    html = client.get(reverse("registry:path-list")).content.decode()
    assert "payments-ledger-sync" not in html
    assert "No access paths match." in html


def test_status_filter_and_cursor_pages(client, personas, make_path, unowned_path):
    for index in range(55):
        make_path(name=f"bulk-{index:02d}")
    client.force_login(personas.users.sam)
    first = client.get(reverse("registry:path-list"), {"status": "active"})
    assert first.context["next_cursor"]
    assert len(first.context["page"]) == 50
    assert all(p.status == "active" for p in first.context["page"])
    second = client.get(
        reverse("registry:path-list"), {"status": "active", "cursor": first.context["next_cursor"]}
    )
    names = {p.name for p in first.context["page"]} | {p.name for p in second.context["page"]}
    assert len(names) == 55 and second.context["next_cursor"] is None
    unowned = client.get(reverse("registry:path-list"), {"status": "unowned"})
    assert [p.pk for p in unowned.context["page"]] == [unowned_path.pk]


def test_page_query_count_does_not_grow_with_rows(
    client, personas, make_path, django_assert_max_num_queries
):
    client.force_login(personas.users.sam)
    make_path(name="only-one")
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("registry:path-list"))
    for index in range(40):
        make_path(name=f"many-{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("registry:path-list"))


def test_request_id_is_returned_and_recorded(client, personas, unowned_path):
    client.force_login(personas.users.pat)
    response = client.get(reverse("registry:path-list"), HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42"
    hostile = client.get(reverse("registry:path-list"), HTTP_X_REQUEST_ID="x\n<script>")
    assert hostile["X-Request-ID"] != "x\n<script>"
    # A change made in a request is audited with that request's id.
    claimed = client.post(
        f"/api/v1/access-paths/{unowned_path.pk}/claim/",
        {"team": "payments", "reason": "Our nightly payout batch runs under this account."},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-43",
    )
    assert claimed.status_code == 201, claimed.content
    event = AuditEvent.objects.get(action="claim.requested", path=unowned_path)
    assert event.request_id == "req-43"


def test_healthz_answers_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
