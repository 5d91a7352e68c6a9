"""Saved filters of the inventory: listed for their owner only, validated, archived not
deleted, POST-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AuditEvent, SavedFilter
from registry.rules import errors
from tests.assertions import records
from tests.web.helpers import text

pytestmark = pytest.mark.django_db


def save_filter(client, name="Overdue", query="status=overdue"):
    return client.post(reverse("registry:saved-filter-create"), {"name": name, "query": query})


def test_saved_filter_is_listed_for_its_owner_only(client, personas):
    client.force_login(personas.users.pat)
    with records("saved_filter.created"):
        response = save_filter(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:path-list") + "?status=overdue"
    saved = SavedFilter.objects.get()
    assert saved.user == personas.users.pat
    assert (saved.name, saved.query) == ("Overdue", "status=overdue")
    page = client.get(reverse("registry:path-list"))
    assert [s.name for s in page.context["saved"]] == ["Overdue"]
    assert f'href="{reverse("registry:path-list")}?status=overdue">Overdue</a>' in text(page)
    client.force_login(personas.users.lee)
    other = client.get(reverse("registry:path-list"))
    assert list(other.context["saved"]) == []
    assert ">Overdue</a>" not in text(other)


def test_saved_filter_drops_page_keys(client, personas):
    client.force_login(personas.users.pat)
    assert save_filter(client, query="status=overdue&cursor=abc&kind=api_key").status_code == 302
    assert SavedFilter.objects.get().query == "status=overdue&kind=api_key"


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("Overdue", "status=lapsed", errors.SAVED_FILTER_NAME_TAKEN),
        ("", "status=lapsed", errors.REQUIRED),
        pytest.param("Nothing", "", errors.SAVED_FILTER_EMPTY),
        pytest.param("Nothing", "cursor=abc", errors.SAVED_FILTER_EMPTY),
    ],
)
def test_saved_filter_errors_are_400(client, personas, name, query, message):
    client.force_login(personas.users.pat)
    assert save_filter(client).status_code == 302
    events = AuditEvent.objects.count()
    response = save_filter(client, name, query)
    assert response.status_code == 400
    assert SavedFilter.objects.count() == 1
    assert AuditEvent.objects.count() == events
    assert message in text(response)


def test_same_name_is_fine_for_another_person(client, personas):
    client.force_login(personas.users.pat)
    save_filter(client)
    client.force_login(personas.users.lee)
    assert save_filter(client).status_code == 302
    assert SavedFilter.objects.filter(name="Overdue").count() == 2


def test_archiving_someone_elses_saved_filter_is_404(client, personas):
    client.force_login(personas.users.pat)
    save_filter(client)
    saved = SavedFilter.objects.get()
    client.force_login(personas.users.lee)
    events = AuditEvent.objects.count()
    response = client.post(reverse("registry:saved-filter-archive", args=[saved.pk]))
    assert response.status_code == 404
    saved.refresh_from_db()
    assert saved.archived_at is None
    assert AuditEvent.objects.count() == events


def test_archiving_own_saved_filter_keeps_the_row(client, personas):
    client.force_login(personas.users.pat)
    save_filter(client)
    saved = SavedFilter.objects.get()
    url = reverse("registry:saved-filter-archive", args=[saved.pk])
    with records("saved_filter.archived"):
        response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:path-list")
    saved.refresh_from_db()
    assert saved.archived_at is not None
    assert list(client.get(reverse("registry:path-list")).context["saved"]) == []
    assert client.post(url).status_code == 404  # already gone
    assert save_filter(client).status_code == 302  # the name is free again
    assert SavedFilter.objects.count() == 2


def test_saved_filter_views_are_post_only_and_need_sign_in(client, personas):
    url = reverse("registry:saved-filter-create")
    assert client.post(url, {"name": "x", "query": "status=overdue"}).status_code == 302
    assert SavedFilter.objects.count() == 0
    client.force_login(personas.users.pat)
    assert client.get(url).status_code == 405
