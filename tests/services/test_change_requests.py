"""Changes that relax a path's guard rails wait for a second person (issue 13): lowering
its risk tier, moving its expiry past the policy window, or lifting lead sign-off, asked
by a token, or by a member on a high or critical path. A lead approves (security for a
critical path), never the person who asked; approving applies the change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from rest_framework.test import APIClient

from registry import services
from registry.models import AccessPath, AuditEvent, ChangeRequest, Notification
from registry.rules import errors
from registry.rules.errors import InvalidTransition, NotAllowed
from tests.conftest import NOW

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def current(path) -> AccessPath:
    return AccessPath.objects.get(pk=path.pk)


def test_a_member_lowering_a_high_path_waits_for_a_lead(personas, path):
    saved = services.path_update(
        actor=personas.pat,
        path=path,
        changes={"risk_tier": "low", "consumers": "billing job"},
        reason="The job only reads public data now.",
        now=NOW,
    )
    held = saved.held_change
    assert held.changes == {"risk_tier": "low"} and held.approver == "lead"
    after = current(path)
    assert after.risk_tier == "high"  # held
    assert after.consumers == "billing job"  # the rest applied
    assert after.review_interval_days == path.review_interval_days  # derived: waits too
    assert AuditEvent.objects.filter(action="change_request.requested").count() == 1
    told = Notification.objects.filter(reason="change_request")
    assert {(n.team.slug, n.audience) for n in told} == {("payments", "leads")}
    # a second held change of the same path waits its turn
    with pytest.raises(InvalidTransition):
        services.path_update(
            actor=personas.pat, path=path, changes={"risk_tier": "medium"}, now=NOW
        )
    services.change_request_decide(actor=personas.lee, request=held, approve=True, now=NOW)
    after = current(path)
    assert after.risk_tier == "low"
    assert after.review_interval_days == 365  # the low tier's interval, with the change
    assert ChangeRequest.objects.get().status == "approved"
    assert AuditEvent.objects.filter(action="access_path.updated", actor_label="lee").exists()


def test_an_expiry_past_the_window_by_a_token_waits(personas, path):
    far = NOW + 500 * DAY  # high: the policy's window is 180 days
    saved = services.path_update(
        actor=personas.payments_ci, path=path, changes={"expires_at": far}, now=NOW
    )
    assert saved.held_change.changes == {"expires_at": far.isoformat()}
    assert current(path).expires_at != far
    services.change_request_decide(
        actor=personas.lee, request=saved.held_change, approve=True, now=NOW
    )
    assert current(path).expires_at == far


def test_within_the_window_or_by_a_lead_applies_at_once(personas, path):
    saved = services.path_update(
        actor=personas.pat, path=path, changes={"expires_at": NOW + 100 * DAY}, now=NOW
    )
    assert saved.held_change is None
    saved = services.path_update(
        actor=personas.lee, path=path, changes={"risk_tier": "medium"}, now=NOW
    )
    assert saved.held_change is None and current(path).risk_tier == "medium"


def test_the_asker_cannot_approve_and_a_critical_path_needs_security(personas, make_path, sid):
    critical = make_path(risk_tier="critical")
    held = services.path_update(
        actor=personas.lee, path=critical, changes={"risk_tier": "high"}, now=NOW
    ).held_change
    assert held.approver == "security"
    with pytest.raises(NotAllowed) as refused:
        services.change_request_decide(actor=personas.lee, request=held, approve=True, now=NOW)
    assert refused.value.message == errors.SELF_REVIEW_FORBIDDEN
    with pytest.raises(NotAllowed):
        services.change_request_decide(
            actor=personas.pat, request=held, approve=False, reason="No.", now=NOW
        )
    services.change_request_decide(
        actor=sid, request=held, approve=False, reason="Still critical: it holds PCI data.",
        now=NOW,
    )  # fmt: skip
    assert current(critical).risk_tier == "critical"
    assert ChangeRequest.objects.get().status == "rejected"


def test_lifting_sign_off_by_a_member_waits(personas, make_path):
    signed = make_path(requires_human_signoff=True)
    held = services.path_update(
        actor=personas.lee, path=signed, changes={"requires_human_signoff": False}, now=NOW
    ).held_change
    assert held is None  # a lead on a high path may
    services.path_update(
        actor=personas.lee, path=signed, changes={"requires_human_signoff": True}, now=NOW
    )
    held = services.path_update(
        actor=personas.payments_ci, path=signed,
        changes={"requires_human_signoff": False}, now=NOW,
    ).held_change  # fmt: skip
    assert held is not None and current(signed).requires_human_signoff is True


def test_the_api_answers_202_and_a_lead_decides_there(personas, path):
    pat = APIClient()
    pat.force_authenticate(personas.users.pat)
    response = pat.patch(f"/api/v1/access-paths/{path.pk}/", {"risk_tier": "low"}, format="json")
    assert response.status_code == 202, response.content
    change = response.json()
    assert change["status"] == "pending" and change["changes"] == {"risk_tier": "low"}
    assert response["Location"] == f"/api/v1/change-requests/{change['id']}/"
    assert pat.post(f"/api/v1/change-requests/{change['id']}/approve/").status_code == 403
    lee = APIClient()
    lee.force_authenticate(personas.users.lee)
    approved = lee.post(f"/api/v1/change-requests/{change['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    # outsiders see nothing of it
    otto = APIClient()
    otto.force_authenticate(personas.users.otto)
    assert otto.get(f"/api/v1/change-requests/{change['id']}/").status_code == 404


def test_the_path_page_shows_the_waiting_change_and_the_lead_decides(personas, path):
    services.path_update(actor=personas.pat, path=path, changes={"risk_tier": "low"}, now=NOW)
    change = ChangeRequest.objects.get()
    member = Client()
    member.force_login(personas.users.pat)
    page = member.get(f"/paths/{path.pk}/").content.decode()
    assert "A change waits for a lead" in page and "Approve the change" not in page
    lead = Client()
    lead.force_login(personas.users.lee)
    assert "Approve the change" in lead.get(f"/paths/{path.pk}/").content.decode()
    response = lead.post(
        f"/paths/{path.pk}/changes/{change.pk}/reject/", {"reason": "Keep it high."}
    )
    assert response.status_code == 302
    assert ChangeRequest.objects.get().status == "rejected"
