"""The pages' POST actions when something is wrong: form errors, stale versions,
self-review, conflicts, unknown decisions, GET on a POST-only action, CSRF, and HTMX
posts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.models import Claim, PolicyException
from registry.rules import errors
from tests.assertions import records
from tests.conftest import NOW, TICKET
from tests.web.helpers import (
    CLAIM_REASON,
    DAY,
    JUSTIFICATION_EDITED,
    WAIVER_REASON,
    detail_url,
    fresh,
    local,
    nothing_changes,
    rendered_form,
    text,
)

pytestmark = pytest.mark.django_db


def test_attest_keep_without_every_confirmation_is_400(client, personas, world):
    act = world["attest"]("pat")
    client.force_login(personas.users.pat)
    data = dict(act.data)
    del data["least_privilege"]
    with nothing_changes():
        response = client.post(act.url, data)
    assert response.status_code == 400
    label = errors.ATTEST_CONFIRMATIONS["least_privilege"]
    assert errors.CONFIRMATIONS_MISSING.format(action="keep this path", missing=f"“{label}”") in (
        text(response)
    )
    assert response.context["bound_action"] == "attest"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decision": "reduce_scope", "note": ""}, errors.REDUCE_SCOPE_NEEDS_NOTE),
        (
            {"decision": "keep", "still_needed": ""},
            errors.CONFIRMATIONS_MISSING.format(
                action="keep this path", missing="“It is still needed”"
            ),
        ),
        ({"decision": "maybe"}, "Select a valid choice. maybe is not one of the available"),
        ({"version": "seven"}, "Enter a whole number."),
    ],
)
def test_attest_form_errors_are_400(client, personas, world, changes, message):
    act = world["attest"]("lee")
    client.force_login(personas.users.lee)
    data = {k: v for k, v in {**act.data, **changes}.items() if v != ""}
    with nothing_changes():
        response = client.post(act.url, data)
    assert response.status_code == 400
    assert message in text(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"team": "payments", "reason": "", "ticket_url": TICKET}, errors.REQUIRED),
        # The browser's claim asks for the ticket, so an approved claim is complete.
        ({"team": "payments", "reason": CLAIM_REASON}, errors.REQUIRED),
        (
            {"team": "payments", "reason": "tbd", "ticket_url": TICKET},
            errors.JUSTIFICATION_PLACEHOLDER,
        ),
        (
            {"team": "data", "reason": CLAIM_REASON, "ticket_url": TICKET},
            "Select a valid choice.",
        ),  # not pat's team
        (
            {
                "team": "payments",
                "reason": CLAIM_REASON,
                "ticket_url": TICKET,
                "proposed_expires_at": "2020-01-01T00:00",
            },
            errors.EXPIRY_IN_PAST,
        ),
    ],
)
def test_claim_form_errors_are_400(client, personas, unowned_path, data, message):
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = client.post(reverse("registry:path-claim", args=[unowned_path.pk]), data)
    assert response.status_code == 400
    assert message in text(response)
    assert response.context["bound_action"] == "claim"


def test_claim_with_proposed_expiry_is_kept_on_the_claim(client, personas, unowned_path):
    client.force_login(personas.users.pat)
    when = (timezone.now() + 60 * DAY).replace(second=0, microsecond=0)
    data = {
        "team": "payments",
        "reason": CLAIM_REASON,
        "ticket_url": TICKET,
        "proposed_expires_at": local(when),
    }
    response = client.post(reverse("registry:path-claim", args=[unowned_path.pk]), data)
    assert response.status_code == 302
    assert Claim.objects.get(path=unowned_path).proposed_expires_at == when


@pytest.mark.parametrize("action", ["attest", "transfer", "revoke", "edit"])
def test_stale_version_is_409_and_changes_nothing(client, personas, world, action):
    act = world[action]("lee")
    services.path_update(actor=personas.lee, path=act.path, changes={"consumers": "cron"})
    current = fresh(act.path).version
    assert current == act.path.version + 1
    client.force_login(personas.users.lee)
    with nothing_changes():
        if action == "edit":
            url = reverse("registry:path-edit", args=[act.path.pk])
            form = rendered_form(client.get(url))
            form.update(version=[str(act.path.version)], justification=[JUSTIFICATION_EDITED])
            response = client.post(url, form)
        else:
            response = client.post(act.url, act.data)
    assert response.status_code == 409
    expected = errors.STALE_VERSION.format(expected=act.path.version, actual=current)
    assert expected in text(response)


def test_approving_your_own_claim_is_403_and_another_reviewer_may(client, personas, world, sid):
    act = world["claim-approve"]("sam")
    claim = services.path_claim(
        actor=personas.sam,
        path=act.path,
        team=personas.teams.security,
        reason="Security's scanner runs under this service account.",
        now=NOW,
    )
    url = reverse("registry:claim-decide", args=[act.path.pk, claim.pk, "approve"])
    client.force_login(personas.users.sam)
    with nothing_changes():
        response = client.post(url, {"reason": ""})
    assert response.status_code == 403
    assert errors.SELF_REVIEW_FORBIDDEN in text(response)
    client.force_login(sid.user)
    with records("claim.approved", "claim.rejected"):  # pat's competing claim is closed
        assert client.post(url, {"reason": ""}).status_code == 302
    assert fresh(act.path).owner_team_id == personas.teams.security.pk


def test_approving_your_own_exception_is_403(client, personas, world, sid):
    path, exception = _own_waiver(personas, world)
    url = reverse("registry:exception-decide", args=[path.pk, exception.pk, "approve"])
    client.force_login(personas.users.sam)
    with nothing_changes():
        response = client.post(url, {"reason": ""})
    assert response.status_code == 403
    assert errors.SELF_REVIEW_FORBIDDEN in text(response)
    client.force_login(sid.user)
    assert client.post(url, {"reason": ""}).status_code == 302
    assert PolicyException.objects.get(pk=exception.pk).status == "approved"


def _own_waiver(personas, world):
    act = world["exception"]("sam")
    exception = services.exception_request(
        actor=personas.sam,
        path=act.path,
        rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
        reason=WAIVER_REASON,
        expires_at=NOW + 30 * DAY,
        now=NOW,
    )
    return act.path, exception


@pytest.mark.parametrize(
    ("action", "persona"),
    [("claim-reject", "sam"), ("transfer-decline", "dana"), ("exception-reject", "sam")],
)
def test_reject_and_decline_need_a_reason(client, personas, world, action, persona):
    act = world[action](persona)
    client.force_login(getattr(personas.users, persona))
    with nothing_changes():
        response = client.post(act.url, {"reason": "  "})
    assert response.status_code == 400
    assert errors.REQUIRED in text(response)


def test_transfer_to_the_owning_team_is_400(client, personas, world):
    act = world["transfer"]("lee")
    client.force_login(personas.users.lee)
    with nothing_changes():
        response = client.post(act.url, {**act.data, "to_team": "payments"})
    assert response.status_code == 400
    assert "Select a valid choice." in text(response)


def test_exception_longer_than_policy_is_400(client, personas, world):
    act = world["exception"]("pat")
    client.force_login(personas.users.pat)
    too_late = local(timezone.now() + 400 * DAY)
    with nothing_changes():
        response = client.post(act.url, {**act.data, "expires_at": too_late})
    assert response.status_code == 400
    assert errors.EXCEPTION_TOO_LONG.format(days=365) in text(response)


@pytest.fixture
def conflicts(personas, world, path):
    """Posts the state of the path no longer allows: (persona, url, data, message)."""

    def claim_twice():
        act = world["claim-approve"]("sam")  # pat's claim for payments is pending
        data = {"team": "payments", "reason": CLAIM_REASON, "ticket_url": TICKET}
        url = reverse("registry:path-claim", args=[act.path.pk])
        return "lee", url, data, errors.CLAIM_ALREADY_PENDING

    def claim_owned():
        data = {"team": "payments", "reason": CLAIM_REASON, "ticket_url": TICKET}
        url = reverse("registry:path-claim", args=[path.pk])
        return "pat", url, data, errors.PATH_NOT_CLAIMABLE.format(state="active")

    def decided_claim():  # sid approved while sam's page still offered "Reject"
        act = world["claim-approve"]("sam")
        claim = Claim.objects.get(path=act.path)
        services.claim_approve(actor=personas.sam, claim=claim)
        url = act.url.replace("/approve/", "/reject/")
        return "sam", url, {"reason": "Late."}, errors.CLAIM_NOT_PENDING.format(status="approved")

    def on_revoked(action):
        def build():
            act = world[action]("lee")
            services.path_revoke(actor=personas.lee, path=act.path, reason="Job retired.")
            data = {**act.data, "version": fresh(act.path).version}
            return "lee", act.url, data, errors.PATH_NOT_LIVE.format(state="revoked")

        return build

    return {
        "claim-twice": claim_twice,
        "claim-owned": claim_owned,
        "decided-claim": decided_claim,
        **{f"{a}-revoked": on_revoked(a) for a in ("attest", "transfer", "revoke", "exception")},
    }


CONFLICTS = [
    "claim-twice",
    "claim-owned",
    "decided-claim",
    "attest-revoked",
    "transfer-revoked",
    "revoke-revoked",
    "exception-revoked",
]


@pytest.mark.parametrize("conflict", CONFLICTS)
def test_conflict_is_409_and_changes_nothing(client, personas, conflicts, conflict):
    persona, url, data, _ = conflicts[conflict]()
    client.force_login(getattr(personas.users, persona))
    with nothing_changes():
        response = client.post(url, data)
    assert response.status_code == 409


@pytest.mark.parametrize("conflict", CONFLICTS)
def test_conflict_page_says_why(client, personas, conflicts, conflict):
    persona, url, data, message = conflicts[conflict]()
    client.force_login(getattr(personas.users, persona))
    response = client.post(url, data)
    assert response.status_code == 409
    assert message in text(response)


@pytest.mark.parametrize(
    "build", ["claim-approve", "transfer-accept", "exception-approve"], ids=lambda b: b
)
def test_unknown_decision_in_the_url_is_404(client, personas, world, build):
    act = world[build]("sam")
    client.force_login(personas.users.sam)
    bogus = act.url.rstrip("/").rsplit("/", 1)[0] + "/bogus/"
    with nothing_changes():
        assert client.post(bogus, {"reason": "x"}).status_code == 404


def test_decision_on_another_paths_claim_is_404(client, personas, world, make_path):
    act = world["claim-approve"]("sam")
    other = make_path(name="other", owner_team=None, justification="", ticket_url="")
    claim_id = act.url.rstrip("/").split("/")[-2]
    url = reverse("registry:claim-decide", args=[other.pk, claim_id, "approve"])
    client.force_login(personas.users.sam)
    with nothing_changes():
        assert client.post(url, {"reason": ""}).status_code == 404


@pytest.mark.parametrize(
    "action",
    [
        "claim",
        "claim-approve",
        "attest",
        "transfer",
        "transfer-accept",
        "revoke",
        "exception",
        "exception-approve",
    ],
)
def test_get_on_a_post_only_action_is_405(client, personas, world, action):
    act = world[action]("sam")
    client.force_login(personas.users.sam)
    with nothing_changes():
        response = client.get(act.url)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_post_without_csrf_token_is_403(personas, world):
    act = world["attest"]("pat")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(personas.users.pat)
    with nothing_changes():
        response = browser.post(act.url, act.data)
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    # With the token the page hands out, the same post goes through.
    page = browser.get(detail_url(act.path))
    token = rendered_form(page, act.url)["csrfmiddlewaretoken"][0]
    assert browser.post(act.url, {**act.data, "csrfmiddlewaretoken": token}).status_code == 302


def test_htmx_post_with_errors_returns_the_page_with_them(client, personas, world):
    act = world["attest"]("pat")
    client.force_login(personas.users.pat)
    data = {**act.data, "decision": "reduce_scope"}
    with nothing_changes():
        response = client.post(act.url, data, headers={"HX-Request": "true"})
    page = text(response)
    assert response.status_code == 400
    assert '<main id="main"' in page  # hx-select="#main" swaps this in
    assert errors.REDUCE_SCOPE_NEEDS_NOTE in page


def test_htmx_post_that_succeeds_redirects(client, personas, world):
    act = world["attest"]("pat")
    client.force_login(personas.users.pat)
    response = client.post(act.url, act.data, headers={"HX-Request": "true"})
    assert response.status_code == 302
    assert response["Location"] == detail_url(act.path)


def test_bound_form_keeps_what_was_typed(client, personas, unowned_path):
    client.force_login(personas.users.pat)
    response = client.post(
        reverse("registry:path-claim", args=[unowned_path.pk]),
        {"team": "payments", "reason": "temp"},
    )
    assert response.status_code == 400
    claim_form = rendered_form(response, reverse("registry:path-claim", args=[unowned_path.pk]))
    assert (claim_form["team"], claim_form["reason"]) == (["payments"], ["temp"])
