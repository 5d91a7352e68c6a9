"""Fixtures of the page tests: the actions a path's page posts, each built in the
situation it needs (`world`), and a scene of three paths every page shows (`scene`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from registry import services
from registry.models import AccessPath, Attestation, Claim, PolicyException, Transfer
from tests.conftest import NOW, TICKET
from tests.web.helpers import (
    CLAIM_REASON,
    CONFIRMED,
    DAY,
    JUSTIFICATION_EDITED,
    TEAM_OF,
    WAIVER_REASON,
    Act,
    local,
)


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
        data = {"team": TEAM_OF.get(who, "payments"), "reason": CLAIM_REASON, "ticket_url": TICKET}
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


@pytest.fixture
def scene(personas, make_path, unowned_path):
    """A payments path, an unowned path, and an unowned path payments has claimed."""
    owned = make_path(name="payments-ledger-sync")
    pending = make_path(
        name="orphan-claimed",
        owner_team=None,
        steward_team=personas.teams.platform,
        justification="",
        ticket_url="",
    )
    services.path_claim(
        actor=personas.pat, path=pending, team=personas.teams.payments, reason=CLAIM_REASON, now=NOW
    )
    AccessPath.objects.filter(pk=unowned_path.pk).update(name="orphan-unowned")
    return SimpleNamespace(owned=owned, unowned=unowned_path, pending=pending)
