"""The inventory page: sorting and keyset pages, bad filters, and HTMX partials."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath
from registry.selectors.pagination import SORTS
from registry.web.views import inventory
from tests.conftest import NOW
from tests.web.helpers import DAY

pytestmark = pytest.mark.django_db

# --- Inventory: sorting and keyset pages ---------------------------------------------


@pytest.fixture
def sortable(personas, make_path):
    """Paths with ties and nulls in every sort column (unowned paths have no review or
    expiry date)."""
    made = []
    for index, (name, days_ago, expires_in) in enumerate(
        [
            ("pathc", 10, 300),
            ("patha", 10, 200),
            ("pathb", 40, 300),
            ("patha", 5, 250),
            ("pathd", 40, 200),
            ("pathe", 1, 100),
        ]
    ):
        made.append(
            make_path(
                name=name,
                now=NOW - days_ago * DAY,
                expires_at=NOW + expires_in * DAY,
                risk_tier="low",
                review_interval_days=30 + index % 3 * 10,
            )
        )
    for name in ("pathf", "patha", "pathg", "pathb", "pathh"):
        made.append(make_path(name=name, owner_team=None, justification="", ticket_url=""))
    # Edits give -updated an order of its own, with a tie.
    for path, minutes in zip(made[:4], (30, 30, 10, 20), strict=True):
        services.path_update(
            actor=personas.system,
            path=path,
            changes={"consumers": "nightly job"},
            now=NOW + dt.timedelta(minutes=minutes),
        )
    return made


def expected_order(sort_key: str) -> list:
    sort = SORTS[sort_key]
    rows = list(AccessPath.objects.values_list(sort.field, "id"))
    present = [r for r in rows if r[0] is not None]
    nulls = [r for r in rows if r[0] is None]
    ordered = sorted(present, reverse=sort.descending) + sorted(nulls, key=lambda r: r[1])
    return [pk for _, pk in ordered]


def walk(client, params: dict) -> tuple[list, int]:
    """Every page of the inventory, following next_cursor: the row ids and page count."""
    ids, pages, cursor = [], 0, None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get(reverse("registry:path-list"), query)
        assert response.status_code == 200
        ids += [p.pk for p in response.context["page"]]
        pages += 1
        cursor = response.context["next_cursor"]
        if cursor is None:
            return ids, pages
        assert f"cursor={cursor}" in response.content.decode().replace("&amp;", "&")
        assert pages < 20, "the cursor does not advance"


@pytest.mark.parametrize("sort_key", list(SORTS))
@pytest.mark.parametrize("page_size", [2, 3, 50])
def test_sort_and_keyset_pages_visit_every_row_once_in_order(
    client, personas, sortable, monkeypatch, sort_key, page_size
):
    monkeypatch.setattr(inventory, "PAGE_SIZE", page_size)
    client.force_login(personas.users.sam)
    ids, pages = walk(client, {"sort": sort_key})
    assert ids == expected_order(sort_key)
    assert len(ids) == len(set(ids)) == 11
    assert pages == -(-11 // page_size)


def test_sort_by_name_lists_names_alphabetically(client, personas, sortable):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "name"})
    names = [p.name for p in response.context["page"]]
    assert names == sorted(names)
    assert names[:3] == ["patha", "patha", "patha"]
    assert response.context["sort"].key == "name"


def test_sort_by_review_puts_unowned_paths_last(client, personas, sortable):
    client.force_login(personas.users.sam)
    rows = client.get(reverse("registry:path-list"), {"sort": "review"}).context["page"]
    assert [p.next_review_at is None for p in rows] == [False] * 6 + [True] * 5
    reviews = [p.next_review_at for p in rows[:6]]
    assert reviews == sorted(reviews)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "eyJub3QiOiAianNvbiBsaXN0In0",  # base64 of a JSON object, not a list
        "WyJuYW1lIiwgMTIzLCAibm90LWEtdXVpZCJd",  # ["name", 123, "not-a-uuid"]
    ],
)
def test_bad_cursor_is_ignored(client, personas, sortable, cursor):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "name", "cursor": cursor})
    assert response.status_code == 200
    assert len(response.context["page"]) == 11


def test_cursor_from_another_sort_starts_over(client, personas, sortable, monkeypatch):
    monkeypatch.setattr(inventory, "PAGE_SIZE", 3)
    client.force_login(personas.users.sam)
    by_name = client.get(reverse("registry:path-list"), {"sort": "name"})
    foreign = by_name.context["next_cursor"]
    response = client.get(reverse("registry:path-list"), {"sort": "expiry", "cursor": foreign})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == expected_order("expiry")[:3]


def test_unknown_sort_falls_back_to_oldest_first(client, personas, sortable):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"sort": "password"})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == expected_order("created")


# --- Bad filters, HTMX ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"expires_before": "notadate"}, "expires_before"),
        ({"owner_team": "no-such-team"}, "owner_team"),
        ({"expiring_within_days": "0"}, "expiring_within_days"),
        ({"kind": "robot"}, "kind"),
    ],
)
def test_invalid_filter_is_400_with_message_and_no_rows(client, personas, scene, query, field):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), query)
    html = response.content.decode()
    assert response.status_code == 400
    assert response.context["page"] == []
    assert f"Check the filters: {field}:" in html
    assert "payments-ledger-sync" not in html
    export = client.get(reverse("registry:path-export"), query)
    assert export.status_code == 400
    assert "payments-ledger-sync" not in export.content.decode()


def test_valid_filter_narrows_the_rows(client, personas, scene):
    client.force_login(personas.users.sam)
    response = client.get(reverse("registry:path-list"), {"status": "unowned"})
    assert response.status_code == 200
    assert [p.pk for p in response.context["page"]] == [scene.unowned.pk]


def test_htmx_filter_request_gets_only_the_results(client, personas, scene):
    client.force_login(personas.users.pat)
    response = client.get(
        reverse("registry:path-list"),
        {"status": "active"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<h1>Inventory</h1>" not in html
    assert 'class="paths"' in html and "payments-ledger-sync" in html
    assert "orphan-unowned" not in html
    # Another target (or no HX-Target) gets the whole page.
    whole = client.get(reverse("registry:path-list"), headers={"HX-Request": "true"})
    assert "<html" in whole.content.decode()


def test_htmx_bad_filter_partial_shows_the_error(client, personas, scene):
    client.force_login(personas.users.sam)
    response = client.get(
        reverse("registry:path-list"),
        {"status": "bogus"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    assert "Check the filters: status:" in html
