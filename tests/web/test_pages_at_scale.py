"""Issue 15, pages and API at a million paths: query counts that do not grow with the
page, an admin changelist that never counts the table, a team filter that renders no
list of every team, and NHI8/NHI9 on the path page as the inventory filters them."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, PolicyException, Team
from registry.rules.actors import Actor
from registry.rules.policies import current_policy
from registry.rules.posture import RULES, path_violations, shared_external_ids, violation_q
from registry.selectors import path_list
from registry.web.views import inventory
from tests.conftest import NOW
from tests.web.helpers import DAY, detail_url

pytestmark = pytest.mark.django_db

Rule = PolicyException.Rule


@pytest.fixture
def many(personas, make_path):
    """60 owned and unowned paths, with tags and identifiers on some."""
    made = []
    for index in range(30):
        made.append(make_path(name=f"owned-{index}", now=NOW - index * DAY, tags=["billing"]))
        made.append(make_path(name=f"unowned-{index}", owner_team=None, justification="",
                              ticket_url=""))  # fmt: skip
    return made


def queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_inventory_queries_do_not_depend_on_the_page_size(client, personas, many, monkeypatch):
    client.force_login(personas.users.sam)
    counts = {}
    for size in (10, 50):
        monkeypatch.setattr(inventory, "PAGE_SIZE", size)
        counts[size] = queries(client, reverse("registry:path-list"))
        # A deep page and a filtered one cost the same as the first.
        page = client.get(reverse("registry:path-list")).context
        assert len(page["page"]) == size
        cursor = page["next_cursor"]
        # A page of unowned rows has no owning team to look up: one query fewer.
        assert queries(client, reverse("registry:path-list"), cursor=cursor) <= counts[size]
        assert (
            queries(client, reverse("registry:path-list"), status="unowned", sort="review")
            <= counts[size]
        )
    assert counts[10] == counts[50]


def test_api_list_queries_do_not_depend_on_the_page_size(personas, many):
    api = APIClient()
    api.force_authenticate(personas.users.sam)
    url = "/api/v1/access-paths/"
    counts = {}
    for size in (10, 50):
        with CaptureQueriesContext(connection) as captured:
            response = api.get(url, {"page_size": size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts[size] = len(captured.captured_queries)
    assert counts[10] == counts[50]
    row = next(r for r in response.json()["results"] if r["name"].startswith("owned-"))
    assert row["tags"] == ["billing"]
    assert row["status"] == "active"


def test_path_page_queries_do_not_depend_on_the_estate(client, personas, make_path):
    first = make_path(name="first", external_id="shared-1")
    client.force_login(personas.users.sam)
    few = queries(client, detail_url(first))
    for index in range(20):
        make_path(name=f"twin-{index}", system=f"sys-{index}", external_id="shared-1")
        make_path(name=f"other-{index}")
    assert queries(client, detail_url(first)) == few


def test_admin_changelist_never_counts_the_table(client, personas, many):
    personas.users.sam.is_staff = personas.users.sam.is_superuser = True
    personas.users.sam.save()
    client.force_login(personas.users.sam)
    url = reverse("admin:registry_accesspath_changelist")
    for params in ({}, {"state__exact": "active"}, {"q": "owned"}, {"p": "0"}):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        assert response.status_code == 200
        table = [q["sql"] for q in captured.captured_queries if "registry_accesspath" in q["sql"]]
        counts = [sql for sql in table if "COUNT(" in sql.upper()]
        # Each count is over a LIMITed subquery: never the whole table.
        assert counts and all(re.search(r"LIMIT \d+\) subquery", sql) for sql in counts)
        assert not any("DISTINCT" in sql.upper() for sql in table)


def test_inventory_team_filters_are_text_inputs_with_suggestions(client, personas, many):
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:path-list")).content.decode()
    assert '<select name="owner_team"' not in html
    assert '<select name="steward_team"' not in html
    assert 'list="owner_team-suggestions"' in html
    # Typing "pay" loads the matching teams; the page itself lists none.
    response = client.get(
        reverse("registry:path-list"),
        {"owner_team": "pay"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="owner_team-suggestions",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('<datalist id="owner_team-suggestions">')
    assert '<option value="payments">' in body
    assert "platform" not in body
    # The filter value stays the slug.
    rows = client.get(reverse("registry:path-list"), {"owner_team": "payments"}).context["page"]
    assert rows and all(p.owner_team.slug == "payments" for p in rows)


def test_filter_form_is_the_same_from_the_cache(client, personas, many):
    """The fixed-choice filters' form is rendered once per process: a second request
    gives the same markup, with the boxes ticked that the query ticks."""
    client.force_login(personas.users.sam)
    inventory._choice_filter_fields.cache_clear()
    url = reverse("registry:path-list")
    first = client.get(url, {"status": "overdue"}).content.decode()
    second = client.get(url, {"status": "overdue"}).content.decode()
    assert inventory._choice_filter_fields.cache_info().hits >= 1
    ticked = re.findall(r'<input[^>]*name="status"[^>]*value="overdue"[^>]*>', first)
    assert ticked and "checked" in ticked[0]
    assert re.findall(r'<form class="filter-form.*?</form>', first, re.S) == re.findall(
        r'<form class="filter-form.*?</form>', second, re.S
    )


def test_inventory_rows_escape_what_they_show(client, personas, make_path):
    make_path(name="<b>bold</b>", external_id="<i>x</i>")
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:path-list")).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html


@pytest.fixture
def shared(personas, make_path):
    """External ids shared across environments and systems, and a retired twin."""
    paths = {
        "env-a": make_path(name="env-a", system="aws", environment="prod", external_id="x1"),
        "env-b": make_path(name="env-b", system="gcp", environment="dev", external_id="x1"),
        "sys-a": make_path(name="sys-a", system="aws", environment="prod", external_id="x2"),
        "sys-b": make_path(name="sys-b", system="github", environment="prod", external_id="x2"),
        "gone-a": make_path(name="gone-a", system="aws", environment="dev", external_id="x3"),
        "gone-b": make_path(name="gone-b", system="gcp", environment="prod", external_id="x3"),
        "alone": make_path(name="alone", system="aws", external_id="x4"),
        "blank": make_path(name="blank", system="gcp", external_id=""),
    }
    services.path_revoke(actor=personas.sam, path=paths["gone-b"], reason="Not needed any more.")
    return paths


@pytest.mark.parametrize("code", [Rule.NHI8_ENV_ISOLATION, Rule.NHI9_REUSE])
def test_shared_ids_on_the_path_page_agree_with_the_inventory_filter(
    client, personas, shared, code
):
    now = timezone.now()
    policy = current_policy()
    client.force_login(personas.users.sam)
    listed = {p.name for p in path_list(actor=personas.sam, filters={"posture": code}, now=now)}
    snapshot = shared_external_ids(now)
    counted = set(
        AccessPath.objects.filter(
            violation_q(code, now=now, policy=policy, shared=snapshot)
        ).values_list("name", flat=True)
    )
    expected = {"env-a", "env-b"} | ({"sys-a", "sys-b"} if code == Rule.NHI9_REUSE else set())
    assert listed == counted == expected
    for name, path in shared.items():
        fresh = AccessPath.objects.get(pk=path.pk)
        on_page = {r.code for r in path_violations(fresh, now=now, policy=policy)}
        assert (code in on_page) == (name in listed), name
        page = client.get(detail_url(path)).context["violations"]
        assert (code in {r.code for r in page}) == (name in listed), name


def test_path_page_rules_are_the_inventory_filters(client, personas, shared):
    """Every rule, with one silenced by an exception: path_violations agrees with
    violation_q path by path."""
    now = timezone.now()
    policy = current_policy()
    reused = shared["sys-a"]
    exception = services.exception_request(
        actor=personas.lee,
        path=reused,
        rule=Rule.NHI9_REUSE,
        reason="The twin in github is retired with the migration next month.",
        expires_at=now + 30 * DAY,
    )
    services.exception_approve(actor=personas.sam, exception=exception, reason="")
    for path in AccessPath.objects.all():
        on_page = {r.code for r in path_violations(path, now=now, policy=policy)}
        by_filter = {
            rule.code
            for rule in RULES
            if AccessPath.objects.filter(
                violation_q(rule.code, now=now, policy=policy), pk=path.pk
            ).exists()
        }
        assert on_page == by_filter, path.name
    reused = AccessPath.objects.get(pk=reused.pk)
    assert Rule.NHI9_REUSE not in {r.code for r in path_violations(reused, now=now, policy=policy)}
    assert Rule.NHI8_ENV_ISOLATION not in {
        r.code for r in path_violations(reused, now=now, policy=policy)
    }


def test_no_team_dropdown_on_the_inventory_even_with_many_teams(client, personas):
    Team.objects.bulk_create(
        [Team(slug=f"t-{i:03d}", name=f"Team {i}", kind="product", email="t@example.com",
              created_at=NOW, updated_at=NOW) for i in range(50)]
    )  # fmt: skip
    client.force_login(personas.users.sam)
    html = client.get(reverse("registry:path-list")).content.decode()
    assert "t-001" not in html
    assert Actor is not None


def test_transfer_form_suggests_active_teams_other_than_the_owner(client, personas, make_path):
    path = make_path(name="ledger")
    client.force_login(personas.users.lee)
    html = client.get(detail_url(path)).content.decode()
    assert '<select name="to_team"' not in html
    assert 'list="to_team-suggestions"' in html
    response = client.get(
        detail_url(path),
        {"to_team": "a"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="to_team-suggestions",
    )
    body = response.content.decode()
    assert body.startswith('<datalist id="to_team-suggestions">')
    assert '<option value="data">' in body
    assert '<option value="payments">' not in body  # the owner itself


def test_status_attached_to_rows_is_the_status_in_sql(personas, make_path):
    """attach_status (pages, API) agrees with status_case (exports, counts), including an
    owner with nobody in it and a deactivated one (both lapse: NHI1)."""
    from registry.selectors.paths import attach_status, path_queryset

    make_path(name="staffed")
    make_path(name="overdue", now=NOW - 95 * DAY)
    make_path(name="nobody", owner_team=personas.teams.platform)
    make_path(name="inactive", owner_team=personas.teams.growth)
    make_path(name="unowned", owner_team=None, justification="", ticket_url="")
    gone = make_path(name="revoked")
    services.path_revoke(actor=personas.sam, path=gone, reason="Not needed any more.")
    services.team_deactivate(actor=personas.sam, team=personas.teams.growth, reason="Team merged.")
    now = timezone.now()
    in_sql = {p.name: p.status for p in path_queryset(actor=personas.sam, now=now)}
    rows = list(path_queryset(actor=personas.sam, now=now, with_status=False))
    attach_status(rows, now=now)
    assert {p.name: p.status for p in rows} == in_sql
    assert in_sql["nobody"] == in_sql["inactive"] == "lapsed"
