"""Issue 16, text: the inventory's filter URLs and saved filters carry no empty
parameters (the filter form sends every field; the server drops the empty ones)."""

from __future__ import annotations

import pytest

from registry.models import SavedFilter

pytestmark = pytest.mark.django_db

LIST = "/paths/"


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("q=&status=review_due&owner_team=&sort=", f"{LIST}?status=review_due"),
        ("q=&owner_team=&kind=", LIST),
        ("status=&status=active&q=%20", f"{LIST}?status=active"),
        ("status=active&status=overdue&q=", f"{LIST}?status=active&status=overdue"),
    ],
)
def test_empty_parameters_redirect_to_the_url_without_them(client, personas, query, location):
    client.force_login(personas.users.lee)
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 302
    assert response["Location"] == location
    assert client.get(response["Location"]).status_code == 200


def test_a_url_without_empty_parameters_is_the_page(client, personas):
    client.force_login(personas.users.lee)
    assert client.get(f"{LIST}?status=active&sort=name").status_code == 200
    assert client.get(LIST).status_code == 200


def test_a_saved_filter_keeps_no_empty_parameters(client, personas):
    client.force_login(personas.users.lee)
    response = client.post(
        "/saved-filters/",
        {"name": "Due for us", "query": "q=&status=review_due&owner_team=payments&kind="},
    )
    assert response.status_code == 302
    saved = SavedFilter.objects.get(name="Due for us")
    assert saved.query == "status=review_due&owner_team=payments"
    assert response["Location"] == f"{LIST}?status=review_due&owner_team=payments"


def test_a_saved_filter_of_only_empty_parameters_is_refused_as_empty(client, personas):
    client.force_login(personas.users.lee)
    response = client.post("/saved-filters/", {"name": "Nothing", "query": "q=&kind="})
    assert response.status_code == 400
    assert not SavedFilter.objects.filter(name="Nothing").exists()
