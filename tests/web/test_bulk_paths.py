"""Issue 16, item 2 for the inventory: bulk attest, transfer, revoke and exception
requests on a selection, each row through the service on its own. A refused row (not
allowed, stale, already revoked, out of sight) changes nothing and the others proceed;
a request that cannot be acted on at all changes nothing and says why."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.models import AccessPath, Attestation, PolicyException, Transfer
from registry.rules import errors
from registry.web.bulk import NOTHING_SELECTED, TOO_MANY_ROWS
from registry.web.bulk_forms import UNKNOWN_ACTION, row_value
from registry.web.forms import ExceptionRequestForm
from tests.web.helpers import nothing_changes, text

pytestmark = pytest.mark.django_db

BULK = "/paths/bulk/"
LIST = "/paths/"
REASON = "The ledger jobs moved to the data platform in the Q3 reorganisation."
WAIVER = "The vendor API offers no narrower scope for this export job."
CONFIRM = {
    "attest-still_needed": "on",
    "attest-justification_accurate": "on",
    "attest-least_privilege": "on",
    "attest-no_human_use": "on",
}


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def mixed(personas, make_path, now):
    """Three payments paths due for review, one payments stewards for data (visible to
    pat, not his to attest), one payments path already revoked, one data path pat cannot
    see at all."""
    registered = now - dt.timedelta(days=85)  # high risk: 90-day reviews, due in 5 days
    own = [make_path(name=f"due-{i}", now=registered) for i in range(3)]
    stewarded = make_path(
        name="stewarded",
        owner_team=personas.teams.data,
        steward_team=personas.teams.payments,
        now=registered,
    )
    revoked = make_path(name="gone", now=registered)
    services.path_revoke(actor=personas.lee, path=revoked, reason="Job retired.", now=now)
    revoked.refresh_from_db()
    hidden = make_path(name="hidden", owner_team=personas.teams.data, now=registered)
    return {"own": own, "stewarded": stewarded, "revoked": revoked, "hidden": hidden}


def post(client, action: str, paths, **fields):
    data = {"action": action, "selected": [row_value(p) for p in paths], **fields}
    return client.post(BULK, data)


def outcome_of(client, response):
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page


def rows(page) -> dict[str, tuple[bool, str]]:
    return {row.label: (row.ok, row.message) for row in page.context["outcome"].rows}


def test_bulk_attest_of_a_mixed_selection(client, personas, mixed):
    client.force_login(personas.users.pat)
    selection = [*mixed["own"], mixed["stewarded"], mixed["revoked"], mixed["hidden"]]
    before = {p.pk: p.version for p in selection}
    response = post(client, "attest", selection, back="owner_team=payments", **CONFIRM)
    assert response["Location"] == f"{LIST}?owner_team=payments"
    page = outcome_of(client, response)
    result = rows(page)
    for path in mixed["own"]:
        assert result[path.name][0] is True
        path.refresh_from_db()
        assert path.version == before[path.pk] + 1 and path.last_attested_at is not None
    assert result["stewarded"] == (False, errors.NOT_A_MEMBER)
    assert result["gone"] == (False, errors.PATH_NOT_LIVE.format(state="revoked"))
    # Out of sight: reported like any id that is no path, by the id ticked.
    assert result[str(mixed["hidden"].pk)] == (False, "No such access path.")
    for name in ("stewarded", "revoked", "hidden"):
        path = AccessPath.objects.get(pk=mixed[name].pk)
        assert path.version == before[path.pk]
        assert not Attestation.objects.filter(path=path).exists()
    assert page.context["outcome"].summary == "3 done, 3 refused"
    body = text(page)
    assert "Attest: 3 done, 3 refused" in body
    assert page["Cache-Control"].count("no-store") == 1
    # Shown once: the next visit is the plain inventory.
    assert "outcome" not in client.get(response["Location"]).context


def test_a_row_changed_since_the_page_was_shown_is_refused_as_stale(client, personas, mixed):
    first, second = mixed["own"][:2]
    shown = row_value(first)
    services.path_update(
        actor=personas.lee, path=first, changes={"consumers": "nightly cron"}, now=timezone.now()
    )
    client.force_login(personas.users.pat)
    data = {"action": "attest", "selected": [shown, row_value(second)], **CONFIRM}
    page = outcome_of(client, client.post(BULK, data))
    result = rows(page)
    stale = errors.STALE_VERSION.format(expected=first.version, actual=first.version + 1)
    assert result[first.name] == (False, stale)
    assert result[second.name][0] is True
    assert not Attestation.objects.filter(path=first).exists()


def test_bulk_attest_with_nothing_ticked_names_the_missing_confirmations(client, personas, mixed):
    client.force_login(personas.users.pat)
    missing = "; ".join(f"“{label}”" for label in errors.ATTEST_CONFIRMATIONS.values())
    message = errors.CONFIRMATIONS_MISSING.format(action="keep this path", missing=missing)
    with nothing_changes():
        page = outcome_of(client, post(client, "attest", mixed["own"][:2]))
    assert set(rows(page).values()) == {(False, message)}


def test_bulk_transfer_offers_each_path_once(client, personas, mixed):
    client.force_login(personas.users.lee)
    selection = [*mixed["own"][:2], mixed["revoked"]]
    page = outcome_of(
        client,
        post(
            client, "transfer", selection, **{"transfer-to_team": "data", "transfer-reason": REASON}
        ),
    )
    result = rows(page)
    assert result["due-0"] == (True, "offered to data; ownership moves when they accept.")
    assert result["gone"][0] is False
    offered = Transfer.objects.filter(to_team=personas.teams.data, status="pending")
    assert sorted(t.path.name for t in offered) == ["due-0", "due-1"]


def test_bulk_revoke_needs_a_reason_and_refuses_what_is_already_revoked(client, personas, mixed):
    client.force_login(personas.users.lee)
    selection = [mixed["own"][0], mixed["revoked"]]
    with nothing_changes():
        response = post(client, "revoke", selection)
    assert response.status_code == 400
    assert "This field is required." in text(response)
    # The selection stays ticked for the second try.
    assert f'value="{row_value(mixed["own"][0])}" aria-label' in response.content.decode()
    assert "checked" in re.search(
        rf'value="{row_value(mixed["own"][0])}"[^>]*>', response.content.decode()
    ).group(0)
    page = outcome_of(client, post(client, "revoke", selection, **{"revoke-reason": REASON}))
    assert rows(page)["gone"] == (False, errors.PATH_NOT_LIVE.format(state="revoked"))
    assert AccessPath.objects.get(pk=mixed["own"][0].pk).state == AccessPath.State.REVOKED


def test_bulk_exception_request(client, personas, mixed, now):
    client.force_login(personas.users.pat)
    until = (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    fields = {
        "exception-rule": "missing_ticket",
        "exception-reason": WAIVER,
        "exception-expires_at": until,
    }
    page = outcome_of(client, post(client, "exception", mixed["own"][:2], **fields))
    assert all(ok for ok, _ in rows(page).values())
    assert PolicyException.objects.filter(rule="missing_ticket", status="pending").count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "attest"}, NOTHING_SELECTED),
        ({"action": "launch", "selected": ["x"]}, UNKNOWN_ACTION),
        ({"action": "attest", "selected": [str(uuid.uuid4()) + f":{i}" for i in range(101)]},
         TOO_MANY_ROWS),
        ({"action": "transfer", "selected": ["x"], "transfer-to_team": "nope",
          "transfer-reason": REASON}, "Select a valid choice."),
        ({"action": "exception", "selected": ["x"], "exception-rule": "missing_ticket",
          "exception-reason": WAIVER, "exception-expires_at": "soon"}, "Enter a valid date/time."),
    ],
)  # fmt: skip
def test_a_request_that_cannot_be_acted_on_changes_nothing(client, personas, mixed, data, message):
    client.force_login(personas.users.lee)
    with nothing_changes():
        response = client.post(BULK, {**data, "back": "status=review_due"})
    assert response.status_code == 400
    assert message in text(response)
    # The page the person acted from, its filter kept.
    assert response.context["filters_query"] == "status=review_due"


def test_an_outsider_sees_every_row_as_no_such_path(client, personas, mixed):
    client.force_login(personas.users.otto)
    with nothing_changes():
        page = outcome_of(client, post(client, "attest", mixed["own"], **CONFIRM))
    assert set(rows(page)) == {str(p.pk) for p in mixed["own"]}
    assert {message for _, message in rows(page).values()} == {"No such access path."}


def test_malformed_row_values_are_no_such_path(client, personas, mixed):
    client.force_login(personas.users.lee)
    data = {"action": "attest", "selected": ["nope", f"{mixed['own'][0].pk}:x"], **CONFIRM}
    with nothing_changes():
        page = outcome_of(client, client.post(BULK, data))
    assert {message for _, message in rows(page).values()} == {"No such access path."}


def test_the_back_query_never_leaves_the_inventory(client, personas, mixed):
    client.force_login(personas.users.lee)
    response = post(client, "attest", mixed["own"][:1], back="//evil.example/x", **CONFIRM)
    assert response["Location"].startswith(f"{LIST}?")
    # A query no inventory page would send is dropped, not carried into the session.
    huge = "q=" + "x" * 5_000
    response = post(client, "attest", mixed["own"][1:2], back=huge, **CONFIRM)
    assert response["Location"] == LIST


def test_get_is_not_allowed(client, personas):
    client.force_login(personas.users.lee)
    assert client.get(BULK).status_code == 405


def test_rows_carry_a_labelled_checkbox_and_select_all_ticks_the_page(client, personas, mixed):
    client.force_login(personas.users.lee)
    html = client.get(LIST).content.decode()
    first = mixed["own"][0]
    assert f'value="{row_value(first)}" aria-label="Select {first.name}" form="bulk-form">' in html
    assert 'href="?select=page" data-select-page' in html
    ticked = client.get(LIST, {"select": "page"}).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="selected"[^>]*>', ticked)
    assert boxes and all(" checked" in box for box in boxes)
    # "select" steers the page; it is not a filter (nor offered to a saved filter).
    assert client.get(LIST, {"select": "page"}).context["filtered"] is False


def test_transfer_team_suggestions_are_active_teams(client, personas):
    client.force_login(personas.users.lee)
    response = client.get(
        LIST,
        {"transfer-to_team": "dat"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="transfer-to_team-suggestions",
    )
    assert response.status_code == 200
    assert 'value="data"' in response.content.decode()


# --- the path page's exception form ---------------------------------------------------


def _rule_select(client, path) -> str:
    html = client.get(reverse("registry:path-detail", args=[path.pk])).content.decode()
    return re.search(r'<select name="rule".*?</select>', html, re.S).group(0)


def test_the_exception_form_preselects_a_rule_the_path_breaks(client, personas, make_path):
    # Registered without control-point owners: it breaks "missing authority" only.
    path = make_path()
    client.force_login(personas.users.pat)
    select = _rule_select(client, path)
    assert re.search(
        r'<optgroup label="Rules it breaks">\s*<option value="missing_authority" selected>', select
    )
    assert select.index("Rules it breaks") < select.index("Other rules")
    assert select.count(" selected") == 1


def test_the_exception_form_preselects_nothing_when_no_rule_is_broken():
    html = str(ExceptionRequestForm()["rule"])
    assert " selected" not in html.replace('value="" selected', "")
    assert re.search(r'<option value=""[^>]*>Choose a rule</option>', html)
    assert "optgroup" not in html
