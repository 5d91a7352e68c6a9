"""Every POST action of a path's pages, through the test client: who may (a redirect to
the path, the change made, the audit event written) and who may not (403 when they can
see the path, 404 when they cannot), with nothing at all changed on any refusal."""

from __future__ import annotations

import pytest

from registry.models import AuditEvent
from registry.rules import errors
from tests.assertions import records
from tests.web.helpers import detail_url, fresh, nothing_changes, perform, text

pytestmark = pytest.mark.django_db

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
