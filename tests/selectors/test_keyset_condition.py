"""The inventory's keyset condition: a row comparison the (column, id) index serves,
selecting exactly the rows the OR form it replaced selected, for every sort."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext

from registry import services
from registry.models import AccessPath
from registry.selectors.pagination import SORTS, keyset_page
from tests.conftest import NOW

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def or_form_after(sort, value, pk) -> Q:
    """The condition as it was written before (the reference): an OR per boundary."""
    field = sort.field
    if value is None:
        return Q(**{f"{field}__isnull": True, "id__gt": pk})
    op = "lt" if sort.descending else "gt"
    condition = Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"id__{op}": pk})
    if sort.nullable:
        condition |= Q(**{f"{field}__isnull": True})
    return condition


@pytest.fixture
def estate(personas, make_path):
    """Ties in every column (same name, same creation time, same review and expiry),
    nulls in the nullable ones (unowned paths have no review date, some no expiry)."""
    made = []
    for index in range(8):
        made.append(
            make_path(
                name=f"path-{index % 3}",
                now=NOW - (index % 2) * DAY,  # four rows share each creation time
                expires_at=NOW + (100 + index % 2 * 50) * DAY,
                risk_tier="low",
            )
        )
    for index in range(5):
        made.append(
            make_path(
                name=f"path-{index % 2}",
                owner_team=None,
                justification="",
                ticket_url="",
                now=NOW - (index % 2) * DAY,
            )
        )
    services.path_update(
        actor=personas.system,
        path=made[0],
        changes={"consumers": "nightly job"},
        now=NOW + DAY,
    )
    return made


def ordered(sort):
    column = F(sort.field)
    nulls_last = True if sort.nullable else None
    first = (
        column.desc(nulls_last=nulls_last) if sort.descending else column.asc(nulls_last=nulls_last)
    )
    return AccessPath.objects.order_by(first, "-id" if sort.descending else "id")


@pytest.mark.parametrize("sort_key", list(SORTS))
def test_every_cursor_continues_with_the_rows_the_or_form_selected(estate, sort_key):
    sort = SORTS[sort_key]
    everything = list(ordered(sort))
    assert any(getattr(p, sort.field) is None for p in everything) == sort.nullable
    for position, row in enumerate(everything):
        value = getattr(row, sort.field)
        reference = [p.pk for p in ordered(sort).filter(or_form_after(sort, value, row.pk))]
        assert reference == [p.pk for p in everything[position + 1 :]]
        # keyset_page from a cursor at this row, one page big enough for the rest.
        first, cursor = keyset_page(AccessPath.objects.all(), None, position + 1, sort)
        assert first[-1].pk == row.pk
        if cursor is None:
            assert reference == []
            continue
        rest, after = keyset_page(AccessPath.objects.all(), cursor, len(everything), sort)
        assert [p.pk for p in rest] == reference
        assert after is None


@pytest.mark.parametrize("sort_key", ["created", "-updated", "name"])
def test_the_condition_is_one_row_comparison(estate, sort_key):
    sort = SORTS[sort_key]
    _, cursor = keyset_page(AccessPath.objects.all(), None, 3, sort)
    with CaptureQueriesContext(connection) as captured:
        keyset_page(AccessPath.objects.all(), cursor, 3, sort)
    (query,) = captured.captured_queries
    column = f'"registry_accesspath"."{sort.field}", "registry_accesspath"."id") '
    operator = "<" if sort.descending else ">"
    assert column + operator in query["sql"]
    assert " OR " not in query["sql"]


def test_a_nullable_sort_reads_the_nulls_after_the_dates_in_a_second_range(estate):
    sort = SORTS["review"]
    dated = AccessPath.objects.filter(next_review_at__isnull=False).count()
    _, cursor = keyset_page(AccessPath.objects.all(), None, dated - 1, sort)
    with CaptureQueriesContext(connection) as captured:
        rows, _ = keyset_page(AccessPath.objects.all(), cursor, 3, sort)
    assert len(captured.captured_queries) == 2
    assert rows[0].next_review_at is not None
    assert [p.next_review_at for p in rows[1:]] == [None, None]
