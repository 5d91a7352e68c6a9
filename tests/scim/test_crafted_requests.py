"""Crafted filters and paging never reach the database as a 500 (RFC 7644 3.4.2): each
is a SCIM 400 (invalidFilter / invalidValue) or an answer, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from registry.selectors.scim import MAX_COMPARISONS, MAX_FILTER_LENGTH
from tests.scim.conftest import user_body

pytestmark = pytest.mark.django_db

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
CHAIN = " and ".join(['userName eq "x"'] * (MAX_COMPARISONS + 1))

INVALID_FILTER = [
    ("Users", 'active pr and active eq "abc"'),
    ("Users", 'active eq "abc"'),
    ("Users", "active eq 1"),
    ("Users", "active co true"),
    ("Users", "active eq null"),
    ("Users", "userName co null"),
    ("Users", "userName eq null"),
    ("Users", "userName sw true"),
    ("Users", "userName eq 42"),
    ("Users", 'userName eq "\\u0000"'),
    ("Users", 'userName eq "\\ud800"'),
    ("Users", 'emails.value ew "\\u0000x"'),
    ("Users", 'id co "1"'),
    ("Users", "id eq true"),
    ("Users", 'title eq "x"'),
    ("Users", 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "x"'),
    ("Users", 'userName gt "a"'),
    ("Users", 'userName eq "a" or userName eq "b"'),
    ("Users", 'not (userName eq "a")'),
    ("Users", "(" * 500 + 'userName eq "a"' + ")" * 500),
    ("Users", 'emails[type eq "work"]'),
    ("Users", 'userName eq "a" and'),
    ("Users", "userName eq unquoted"),
    ("Users", 'userName eq "unterminated'),
    ("Users", "and"),
    ("Users", CHAIN),
    ("Users", 'userName eq "' + "a" * MAX_FILTER_LENGTH + '"'),
    ("Groups", 'members.value sw "1"'),
    ("Groups", "members.value eq null"),
    ("Groups", "displayName co null"),
    ("Groups", "displayName eq 7"),
    ("Groups", 'displayName eq "\\u0000"'),
    ("Groups", 'userName eq "x"'),
    ("Groups", 'members.value eq "1" or id eq "2"'),
]


@pytest.mark.parametrize(("resource", "query"), INVALID_FILTER)
def test_crafted_filter_is_invalid_filter(scim, personas, resource, query):
    answer = scim.client.get(f"/scim/v2/{resource}", {"filter": query})
    assert answer.status_code == 400, (query, answer.content)
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["scimType"] == "invalidFilter"
    searched = scim.post(f"{resource}/.search", {"filter": query})
    assert searched.status_code == 400 and searched.json()["scimType"] == "invalidFilter"


ANSWERED = [
    ("Users", "active pr", "everyone"),
    ("Users", "id pr", "everyone"),
    ("Users", 'id eq "abc"', 0),
    ("Users", 'id eq "99999999999999999999"', 0),
    ("Users", 'id eq "-1"', 0),
    ("Users", "id eq 99999999999999999999", 0),
    ("Groups", "members.value eq 0", 0),
    ("Users", 'id eq "\u0661"', 0),  # a non-ASCII digit is no id
    ("Users", 'id ne "abc"', "everyone"),
    ("Users", "active eq true", "everyone"),
    ("Users", "active ne true", 0),
    ("Users", 'userName co ""', "everyone"),
    ("Users", 'userName eq "' + "é" * 300 + '"', 0),
    ("Users", 'externalId pr and userName sw "nobody"', 0),
    ("Groups", 'members.value eq "abc"', 0),
    ("Groups", 'members.value eq "99999999999999999999"', 0),
    ("Groups", "id pr", "every group"),
    ("Groups", 'displayName eq "no such group"', 0),
    ("Groups", 'displayName co "ecurit"', 1),
]


@pytest.mark.parametrize(("resource", "query", "expected"), ANSWERED)
def test_odd_but_valid_filter_is_answered(scim, personas, resource, query, expected):
    from django.contrib.auth.models import User

    from registry.models import Team

    total = {"everyone": User.objects.count(), "every group": Team.objects.count()}
    answer = scim.client.get(f"/scim/v2/{resource}", {"filter": query})
    assert answer.status_code == 200, (query, answer.content)
    assert answer.json()["totalResults"] == total.get(str(expected), expected)


PAGING = [
    ({"startIndex": "99999999999999999999"}, 200),
    ({"startIndex": str(10**400)}, 200),
    ({"count": "99999999999999999999"}, 200),
    ({"startIndex": "-5", "count": "-5"}, 200),
    ({"startIndex": "0", "count": "0"}, 200),
    ({"startIndex": "abc"}, 400),
    ({"count": "1.5"}, 400),
    ({"count": "1e400"}, 400),
    ({"startIndex": ""}, 400),
]


@pytest.mark.parametrize(("params", "status"), PAGING)
@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_crafted_paging(scim, personas, resource, params, status):
    answer = scim.client.get(f"/scim/v2/{resource}", params)
    assert answer.status_code == status, (params, answer.content)
    if status == 400:
        assert answer.json()["scimType"] == "invalidValue"
        return
    body = answer.json()
    assert body["schemas"] == [LIST]
    assert body["itemsPerPage"] == len(body["Resources"])


@pytest.mark.parametrize(
    "body",
    [
        {"startIndex": 10**30},
        {"startIndex": 1e308, "count": 1e308},
        {"count": [1]},
        {"count": {"a": 1}},
        {"startIndex": "x"},
        {"filter": 5},
        {"filter": ['userName eq "a"']},
        {"attributes": [1, None, {"a": 2}]},
        {"excludedAttributes": [["members"]]},
    ],
)
def test_crafted_search_body(scim, personas, body):
    answer = scim.post(".search", body)
    assert answer.status_code in (200, 400), (body, answer.content)
    if answer.status_code == 400:
        assert answer.json()["schemas"] == [ERROR]


def test_huge_start_index_past_the_end_is_an_empty_page(scim, personas):
    scim.post("Users", user_body("ada@example.com"))
    answer = scim.client.get("/scim/v2/Users", {"startIndex": "99999999999999999999"})
    body = answer.json()
    assert body["Resources"] == [] and body["totalResults"] >= 1
    root = scim.post(".search", {"startIndex": 10**30})
    assert root.status_code == 200 and root.json()["Resources"] == []


def test_unknown_user_and_group_ids_are_404(scim, personas):
    for pk in ("abc", "99999999999999999999", "-1", "1.0", "\u0661"):
        for resource in ("Users", "Groups"):
            answer = scim.get(f"{resource}/{pk}")
            assert answer.status_code == 404, (resource, pk)
            assert scim.delete(f"{resource}/{pk}").status_code == 404


@pytest.mark.parametrize("value", ["99999999999999999999", "\u0661", "-1", "1 ", ""])
def test_member_ids_that_name_nobody_are_invalid_value(scim, personas, value):
    data = personas.teams.data
    answer = scim.patch(
        f"Groups/{data.pk}", [{"op": "add", "path": "members", "value": [{"value": value}]}]
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["scimType"] == "invalidValue"
    created = scim.post("Groups", {"displayName": "Odd", "members": [{"value": value}]})
    assert created.status_code == 400
