"""Query counts of the pages do not grow with the rows they show."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import AccessPath
from registry.web.views import inventory
from tests.conftest import NOW
from tests.web.helpers import DAY, detail_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("page", "persona"),
    [
        ("inventory", "sam"),
        ("inventory", "pat"),
        ("dashboard", "sam"),
        ("dashboard", "lee"),
        ("detail", "sam"),
        ("detail", "lee"),
        ("queue-mine", "pat"),
        ("queue-unclaimed", "dana"),
    ],
)
def test_page_queries_do_not_grow_with_rows(
    client, personas, make_path, django_assert_max_num_queries, page, persona
):
    first = make_path(name="first", now=NOW - 95 * DAY)  # overdue: in the My-teams queue
    urls = {
        "inventory": reverse("registry:path-list"),
        "dashboard": reverse("registry:dashboard"),
        "detail": detail_url(first),
        "queue-mine": reverse("registry:queue-mine"),
        "queue-unclaimed": reverse("registry:queue-unclaimed"),
    }
    client.force_login(getattr(personas.users, persona))
    with django_assert_max_num_queries(30) as few:
        assert client.get(urls[page]).status_code == 200
    for index in range(40):
        make_path(name=f"many-{index}", now=NOW - (95 - index % 3) * DAY)
        make_path(name=f"unowned-{index}", owner_team=None, justification="", ticket_url="")
    for _ in range(3 if page == "detail" else 0):  # the detail page's timeline grows too
        services.path_attest(
            actor=personas.lee,
            path=AccessPath.objects.get(pk=first.pk),
            decision="keep",
            still_needed=True,
            justification_accurate=True,
            least_privilege=True,
            no_human_use=True,
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(urls[page])
    assert response.status_code == 200
    if page == "queue-mine":
        assert len(response.context["due"]) == 41
    if page == "inventory":
        assert len(response.context["page"]) == inventory.PAGE_SIZE
