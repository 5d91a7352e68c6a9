"""Every POST action of the pages, through the test client: who may (a redirect to the
path, the change made, the audit event written) and who may not (403 when they can see
the path, 404 when they cannot), with nothing at all changed on any refusal; form
errors, stale versions, CSRF, HTMX posts, saved filters and notification retries."""

from __future__ import annotations

import datetime as dt
import html as htmllib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.models import (
    AccessPath,
    Attestation,
    AuditEvent,
    Claim,
    Notification,
    PolicyException,
    SavedFilter,
    Transfer,
)
from registry.rules import errors
from registry.services.security import SECURITY_ACTIONS
from tests.assertions import records, snapshot
from tests.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
CLAIM_REASON = "Our nightly payout batch runs under this service account."
WAIVER_REASON = "The vendor API offers no narrower scope for this export job."
TEAM_OF = {"sam": "security", "pat": "payments", "lee": "payments", "dana": "data"}
CONFIRMED = {
    "still_needed": "on",
    "justification_accurate": "on",
    "least_privilege": "on",
    "no_human_use": "on",
}


def text(response) -> str:
    """The page as a reader sees it (entities decoded)."""
    return htmllib.unescape(response.content.decode())


def detail_url(path) -> str:
    return reverse("registry:path-detail", args=[path.pk])


def fresh(path) -> AccessPath:
    return AccessPath.objects.get(pk=path.pk)


def local(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


@contextmanager
def nothing_changes():
    """Every registry row (paths with their versions and states, claims, transfers,
    attestations, exceptions, audit events) is as it was. A refusal's own security
    event (request.refused) is not a change."""

    def state() -> dict:
        rows = snapshot()
        rows["AuditEvent"] = [e for e in rows["AuditEvent"] if e["action"] not in SECURITY_ACTIONS]
        return rows

    before = state()
    yield
    assert state() == before


# --- The actions ------------------------------------------------------------------------


@dataclass
class Act:
    """One action ready to post: where, what, and what success looks like."""

    path: AccessPath
    url: str
    data: dict
    events: list[str]
    effect: Callable[[AccessPath], None] = field(default=lambda path: None)


@pytest.fixture
def world(personas, make_path, unowned_path):
    """Builders of each action on a path in the situation it needs; `who` is the persona
    about to post (a claim is made for their team)."""
    teams = personas.teams

    def owned(**overrides):
        return make_path(name="payments-ledger-sync", **overrides)

    def pending_claim(actor=None, team=None):
        return services.path_claim(
            actor=actor or personas.pat,
            path=unowned_path,
            team=team or teams.payments,
            reason=CLAIM_REASON,
            now=NOW,
        )

    def offered():
        path = owned()
        transfer = services.path_transfer(
            actor=personas.lee, path=path, to_team=teams.data, reason="Data runs it now.", now=NOW
        )
        return path, transfer

    def waiver(actor=None):
        path = owned()
        exception = services.exception_request(
            actor=actor or personas.pat,
            path=path,
            rule=PolicyException.Rule.NHI5_OVERPRIVILEGED,
            reason=WAIVER_REASON,
            expires_at=NOW + 30 * DAY,
            now=NOW,
        )
        return path, exception

    def claim(who):
        def effect(path):
            assert path.state == AccessPath.State.CLAIM_PENDING
            assert Claim.objects.get(path=path).team.slug == TEAM_OF[who]

        url = reverse("registry:path-claim", args=[unowned_path.pk])
        data = {"team": TEAM_OF.get(who, "payments"), "reason": CLAIM_REASON}
        return Act(unowned_path, url, data, ["claim.requested"], effect)

    def claim_decide(decision):
        def build(who):
            c = pending_claim()
            url = reverse("registry:claim-decide", args=[c.path_id, c.pk, decision])
            if decision == "approve":

                def effect(path):
                    assert (path.state, path.owner_team_id) == ("active", teams.payments.pk)
                    assert Claim.objects.get(pk=c.pk).status == Claim.Status.APPROVED

                return Act(c.path, url, {"reason": ""}, ["claim.approved"], effect)

            def effect(path):
                assert (path.state, path.owner_team_id) == ("unowned", None)
                assert Claim.objects.get(pk=c.pk).decision_reason == "Not theirs."

            return Act(c.path, url, {"reason": "Not theirs."}, ["claim.rejected"], effect)

        return build

    def attest(who):
        path = owned()

        def effect(after):
            assert after.version == path.version + 1
            assert after.last_attested_at is not None
            assert Attestation.objects.get(path=path).attested_by.username == who

        url = reverse("registry:path-attest", args=[path.pk])
        data = {"version": path.version, "decision": "keep", "note": "", **CONFIRMED}
        return Act(path, url, data, ["access_path.attested"], effect)

    def transfer(who):
        path = owned()

        def effect(after):
            assert after.owner_team_id == teams.payments.pk  # until data accepts
            assert Transfer.objects.get(path=path).to_team_id == teams.data.pk

        url = reverse("registry:path-transfer", args=[path.pk])
        data = {"version": path.version, "to_team": "data", "reason": "Data runs it now."}
        return Act(path, url, data, ["transfer.requested"], effect)

    def transfer_answer(decision):
        def build(who):
            path, t = offered()
            url = reverse("registry:transfer-answer", args=[path.pk, t.pk, decision])
            if decision == "accept":

                def effect(after):
                    assert after.owner_team_id == teams.data.pk
                    assert Transfer.objects.get(pk=t.pk).status == Transfer.Status.ACCEPTED

                return Act(path, url, {}, ["transfer.accepted"], effect)

            def effect(after):
                assert after.owner_team_id == teams.payments.pk
                assert Transfer.objects.get(pk=t.pk).status == Transfer.Status.DECLINED

            return Act(path, url, {"reason": "Not ours."}, ["transfer.declined"], effect)

        return build

    def revoke(path_of):
        def build(who):
            path = path_of()

            def effect(after):
                assert after.state == AccessPath.State.REVOKED

            url = reverse("registry:path-revoke", args=[path.pk])
            data = {"version": path.version, "reason": "The export job was retired."}
            return Act(path, url, data, ["access_path.revoked"], effect)

        return build

    def exception(path_of):
        def build(who):
            path = path_of()

            def effect(after):
                made = PolicyException.objects.get(path=path)
                assert (made.status, made.requested_by.username) == ("pending", who)

            url = reverse("registry:exception-request", args=[path.pk])
            data = {
                "rule": PolicyException.Rule.NHI5_OVERPRIVILEGED,
                "reason": WAIVER_REASON,
                "expires_at": local(timezone.now() + 30 * DAY),
            }
            return Act(path, url, data, ["exception.requested"], effect)

        return build

    def exception_decide(decision):
        def build(who):
            path, e = waiver()
            url = reverse("registry:exception-decide", args=[path.pk, e.pk, decision])
            status = "approved" if decision == "approve" else "rejected"

            def effect(after):
                assert PolicyException.objects.get(pk=e.pk).status == status

            data = {"reason": "Reviewed with the vendor's scope list."}
            return Act(path, url, data, [f"exception.{status}"], effect)

        return build

    def edit(path_of):
        def build(who):
            path = path_of()

            def effect(after):
                assert after.justification == JUSTIFICATION_EDITED
                assert after.version == path.version + 1

            url = reverse("registry:path-edit", args=[path.pk])
            data = {"justification": JUSTIFICATION_EDITED, "version": path.version}
            return Act(path, url, data, ["access_path.updated"], effect)

        return build

    return {
        "claim": claim,
        "claim-approve": claim_decide("approve"),
        "claim-reject": claim_decide("reject"),
        "attest": attest,
        "transfer": transfer,
        "transfer-accept": transfer_answer("accept"),
        "transfer-decline": transfer_answer("decline"),
        "revoke": revoke(owned),
        "revoke-unowned": revoke(lambda: unowned_path),
        "exception": exception(owned),
        "exception-unowned": exception(lambda: unowned_path),
        "exception-approve": exception_decide("approve"),
        "exception-reject": exception_decide("reject"),
        "edit": edit(owned),
        "edit-unowned": edit(lambda: unowned_path),
    }


JUSTIFICATION_EDITED = "The nightly billing export job reads invoices and refunds from payments."


class FormReader(HTMLParser):
    """What a browser would submit from the form posting to `action` ("" for a form
    posting back to its page): the values as rendered, checked boxes, selected options."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.done = False
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and not self.done:
            self.inside = a.get("action", "") == self.action
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select":
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select].append(a.get("value") or "")
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = [""]

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside, self.done = False, True
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea][0] += data.removeprefix("\n")


def rendered_form(response, action: str = "") -> dict[str, list[str]]:
    reader = FormReader(action)
    reader.feed(response.content.decode())
    return reader.values


def submit_edit(client, path, **changes):
    """GET the edit page, change some fields, POST what the browser would."""
    url = reverse("registry:path-edit", args=[path.pk])
    form = rendered_form(client.get(url))
    form.pop("csrfmiddlewaretoken", None)
    form.update({name: [str(value)] for name, value in changes.items()})
    return client.post(url, form)


def perform(client, act: Act):
    if act.url.endswith("/edit/"):
        changes = {k: v for k, v in act.data.items() if k != "version"}
        return submit_edit(client, act.path, **changes)
    return client.post(act.url, act.data)


PERMITTED = [
    ("claim", "sam"),
    ("claim", "pat"),
    ("claim", "lee"),
    ("claim", "dana"),
    ("claim-approve", "sam"),
    ("claim-reject", "sam"),
    ("attest", "pat"),
    ("attest", "lee"),
    ("transfer", "lee"),
    ("transfer", "sam"),
    ("transfer-accept", "dana"),
    ("transfer-decline", "dana"),
    ("revoke", "pat"),
    ("revoke", "lee"),
    ("revoke", "sam"),
    ("revoke-unowned", "sam"),
    ("exception", "pat"),
    ("exception", "lee"),
    ("exception", "sam"),
    ("exception-approve", "sam"),
    ("exception-reject", "sam"),
    ("edit", "pat"),
    ("edit", "lee"),
    ("edit", "sam"),
    ("edit-unowned", "sam"),
]


@pytest.mark.parametrize(("action", "persona"), PERMITTED, ids=["-".join(p) for p in PERMITTED])
def test_permitted_persona_acts(client, personas, world, action, persona):
    act = world[action](persona)
    client.force_login(getattr(personas.users, persona))
    with records(*act.events):
        response = perform(client, act)
    assert response.status_code == 302, text(response)[:2000]
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.actor_user.username == persona
    act.effect(fresh(act.path))
    if action == "transfer-decline":
        return  # the path is no longer dana's to see: test_decline_lands_on_a_page_dana_sees
    assert response["Location"] == detail_url(act.path)
    follow = client.get(response["Location"])
    assert '<p class="message success">' in follow.content.decode()


def test_decline_lands_on_a_page_dana_sees(client, personas, world):
    act = world["transfer-decline"]("dana")
    client.force_login(personas.users.dana)
    response = client.post(act.url, act.data, follow=True)
    assert response.status_code == 200
    assert "Declined: the path stays with its owner." in text(response)


REFUSED = [
    # action, persona, status, message shown (None: the path stays hidden)
    ("claim", "otto", 404, None),
    ("claim-approve", "pat", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("claim-approve", "lee", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("claim-approve", "dana", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("claim-approve", "otto", 404, None),
    ("claim-reject", "pat", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("claim-reject", "dana", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("claim-reject", "otto", 404, None),
    ("attest", "sam", 403, errors.NOT_A_MEMBER),
    ("attest", "dana", 404, None),
    ("attest", "otto", 404, None),
    ("transfer", "pat", 403, errors.NOT_A_LEAD),
    ("transfer", "dana", 404, None),
    ("transfer", "otto", 404, None),
    ("transfer-accept", "sam", 403, errors.NOT_A_MEMBER_OF_TEAM),
    ("transfer-accept", "pat", 403, errors.NOT_A_MEMBER_OF_TEAM),
    ("transfer-accept", "lee", 403, errors.NOT_A_MEMBER_OF_TEAM),
    ("transfer-accept", "otto", 404, None),
    ("transfer-accept", "gwen", 404, None),
    ("transfer-decline", "lee", 403, errors.NOT_A_MEMBER_OF_TEAM),
    ("transfer-decline", "otto", 404, None),
    ("revoke", "dana", 404, None),
    ("revoke", "otto", 404, None),
    ("revoke-unowned", "pat", 403, errors.NOT_A_MEMBER),
    ("revoke-unowned", "dana", 403, errors.NOT_A_MEMBER),
    ("revoke-unowned", "otto", 404, None),
    ("exception", "dana", 404, None),
    ("exception", "otto", 404, None),
    ("exception-unowned", "pat", 403, errors.NOT_A_MEMBER),
    ("exception-unowned", "dana", 403, errors.NOT_A_MEMBER),
    ("exception-approve", "pat", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("exception-approve", "lee", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("exception-approve", "dana", 404, None),
    ("exception-approve", "otto", 404, None),
    ("exception-reject", "lee", 403, errors.NOT_A_SECURITY_REVIEWER),
    ("exception-reject", "otto", 404, None),
    ("edit", "dana", 404, None),
    ("edit", "otto", 404, None),
    ("edit-unowned", "pat", 403, errors.NOT_A_MEMBER),
    ("edit-unowned", "dana", 403, errors.NOT_A_MEMBER),
    ("edit-unowned", "otto", 404, None),
]


@pytest.mark.parametrize(
    ("action", "persona", "status", "message"),
    REFUSED,
    ids=[f"{a}-{p}-{s}" for a, p, s, _ in REFUSED],
)
def test_refused_persona_changes_nothing(client, personas, world, action, persona, status, message):
    act = world[action](persona)
    client.force_login(getattr(personas.users, persona))
    with nothing_changes():
        response = client.post(act.url, act.data)  # straight at the URL: no form offered
    assert response.status_code == status
    if status == 404:
        assert act.path.name not in text(response)


@pytest.mark.parametrize(
    ("action", "persona", "message"),
    [pytest.param(a, p, m, id=f"{a}-{p}") for a, p, s, m in REFUSED if s == 403],
)
def test_refusal_page_says_why(client, personas, world, action, persona, message):
    act = world[action](persona)
    client.force_login(getattr(personas.users, persona))
    response = client.post(act.url, act.data)
    assert response.status_code == 403
    assert message in text(response)


# --- Validation errors, conflicts and odd requests --------------------------------------


def test_attest_keep_without_every_confirmation_is_400(client, personas, world):
    act = world["attest"]("pat")
    client.force_login(personas.users.pat)
    data = dict(act.data)
    del data["least_privilege"]
    with nothing_changes():
        response = client.post(act.url, data)
    assert response.status_code == 400
    assert errors.CONFIRMATIONS_REQUIRED_TO_KEEP in text(response)
    assert response.context["bound_action"] == "attest"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decision": "reduce_scope", "note": ""}, errors.REDUCE_SCOPE_NEEDS_NOTE),
        ({"decision": "keep", "still_needed": ""}, errors.NOT_NEEDED_MUST_REVOKE),
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
        ({"team": "payments", "reason": ""}, errors.REQUIRED),
        ({"team": "payments", "reason": "tbd"}, errors.JUSTIFICATION_PLACEHOLDER),
        ({"team": "data", "reason": CLAIM_REASON}, "Select a valid choice."),  # not pat's team
        (
            {"team": "payments", "reason": CLAIM_REASON, "proposed_expires_at": "2020-01-01T00:00"},
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
    data = {"team": "payments", "reason": CLAIM_REASON, "proposed_expires_at": local(when)}
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
        data = {"team": "payments", "reason": CLAIM_REASON}
        url = reverse("registry:path-claim", args=[act.path.pk])
        return "lee", url, data, errors.CLAIM_ALREADY_PENDING

    def claim_owned():
        data = {"team": "payments", "reason": CLAIM_REASON}
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


# --- Editing ------------------------------------------------------------------------------


def test_edit_records_only_the_changed_field(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with records("access_path.updated"):
        response = submit_edit(client, act.path, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.changes == {"justification": [act.path.justification, JUSTIFICATION_EDITED]}


def test_edit_keeps_the_steward_team(client, personas, make_path):
    path = make_path(steward_team=personas.teams.platform)
    client.force_login(personas.users.pat)
    response = submit_edit(client, path, justification=JUSTIFICATION_EDITED)
    assert response.status_code == 302
    after = fresh(path)
    assert after.justification == JUSTIFICATION_EDITED
    assert after.steward_team_id == personas.teams.platform.pk


def test_edit_form_errors_are_400_and_change_nothing(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = submit_edit(client, act.path, justification="tbd")
    assert response.status_code == 400
    assert errors.JUSTIFICATION_PLACEHOLDER in text(response)
    with nothing_changes():
        response = submit_edit(client, act.path, ticket_url="ftp://tickets.example.com/1")
    assert response.status_code == 400
    assert errors.TICKET_URL_SCHEME in text(response)


def test_edit_without_changes_writes_nothing(client, personas, world):
    act = world["edit"]("pat")
    client.force_login(personas.users.pat)
    with nothing_changes():
        response = submit_edit(client, act.path)
    assert response.status_code == 302


# --- Saved filters ------------------------------------------------------------------------


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


# --- Notification retry (security queue) -----------------------------------------------


@pytest.fixture
def dead_notification(personas, path):
    return Notification.objects.create(
        team=personas.teams.payments,
        path=path,
        reason="review_due",
        cycle=NOW,
        status=Notification.Status.DEAD,
        attempts=8,
        next_attempt_at=NOW,
        last_error="550 mailbox unavailable",
        created_at=NOW,
    )


def test_security_retries_a_dead_notification(client, personas, dead_notification):
    client.force_login(personas.users.sam)
    queue = client.get(reverse("registry:queue-security"))
    assert "550 mailbox unavailable" in text(queue)
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    with records("notification.retried"):
        response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:queue-security")
    dead_notification.refresh_from_db()
    assert (dead_notification.status, dead_notification.attempts) == ("pending", 0)
    # Retrying again: not dead any more, so refused with a message and no change.
    events = AuditEvent.objects.count()
    again = client.post(url, follow=True)
    assert errors.NOTIFICATION_NOT_DEAD in text(again)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["pat", "lee", "dana", "otto"])
def test_only_security_may_retry_a_notification(client, personas, dead_notification, persona):
    client.force_login(getattr(personas.users, persona))
    events = AuditEvent.objects.count()
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    assert client.post(url).status_code == 404
    dead_notification.refresh_from_db()
    assert dead_notification.status == Notification.Status.DEAD
    assert AuditEvent.objects.count() == events


def test_retry_of_unknown_notification_is_404_and_get_is_405(client, personas, dead_notification):
    client.force_login(personas.users.sam)
    assert client.post(reverse("registry:notification-retry", args=[999999])).status_code == 404
    url = reverse("registry:notification-retry", args=[dead_notification.pk])
    assert client.get(url).status_code == 405
    dead_notification.refresh_from_db()
    assert dead_notification.status == Notification.Status.DEAD
