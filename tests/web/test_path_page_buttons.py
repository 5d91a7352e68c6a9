"""The action buttons a path's page offers each persona, in each situation of the path."""

from __future__ import annotations

import re

import pytest

from registry import services
from tests.conftest import NOW
from tests.web.helpers import ACTION_BUTTONS, CLAIM_REASON, DAY, detail_url

pytestmark = pytest.mark.django_db


def buttons(html: str) -> set[str]:
    """The action buttons of the page, by their text."""
    texts = re.findall(r"<button\b[^>]*>\s*([^<]*?)\s*</button>", html)
    return set(texts) & ACTION_BUTTONS


@pytest.fixture
def situations(personas, make_path, unowned_path):
    """Builders for a path in each situation the page offers different actions in."""
    teams = personas.teams

    def owned():
        return make_path(name="owned")

    def unowned():
        return unowned_path

    def claimed_by(actor, team):
        def build():
            services.path_claim(
                actor=actor, path=unowned_path, team=team, reason=CLAIM_REASON, now=NOW
            )
            return unowned_path

        return build

    def offered_to_data():
        path = make_path(name="offered")
        services.path_transfer(
            actor=personas.lee, path=path, to_team=teams.data, reason="Data runs it now.", now=NOW
        )
        return path

    def exception_pending():
        path = make_path(name="waiver")
        services.exception_request(
            actor=personas.pat,
            path=path,
            rule="nhi5_overprivileged",
            reason="The vendor API offers no narrower scope for this export.",
            expires_at=NOW + 30 * DAY,
            now=NOW,
        )
        return path

    def revoked():
        path = make_path(name="gone")
        return services.path_revoke(actor=personas.lee, path=path, reason="Job retired.", now=NOW)

    return {
        "owned": owned,
        "unowned": unowned,
        "claimed-by-pat": claimed_by(personas.pat, teams.payments),
        "claimed-by-sam": claimed_by(personas.sam, teams.security),
        "offered-to-data": offered_to_data,
        "exception-pending": exception_pending,
        "revoked": revoked,
    }


OFFERED = [
    ("owned", "sam", {"Transfer", "Revoke"}),
    ("owned", "pat", {"Attest", "Revoke"}),
    ("owned", "lee", {"Attest", "Transfer", "Revoke"}),
    ("owned", "dana", None),
    ("owned", "otto", None),
    ("unowned", "sam", {"Claim", "Revoke"}),
    ("unowned", "pat", {"Claim"}),
    ("unowned", "lee", {"Claim"}),
    ("unowned", "dana", {"Claim"}),
    ("unowned", "otto", None),
    ("claimed-by-pat", "sam", {"Claim", "Approve", "Reject", "Revoke"}),
    ("claimed-by-pat", "pat", set()),  # payments has claimed; nobody decides their own
    ("claimed-by-pat", "lee", set()),
    ("claimed-by-pat", "dana", {"Claim"}),
    ("claimed-by-pat", "otto", None),
    ("claimed-by-sam", "sam", {"Revoke"}),  # no approving his own claim
    ("claimed-by-sam", "pat", {"Claim"}),
    ("offered-to-data", "sam", {"Revoke"}),
    ("offered-to-data", "pat", {"Attest", "Revoke"}),
    ("offered-to-data", "lee", {"Attest", "Revoke"}),  # one transfer at a time
    ("offered-to-data", "dana", {"Accept", "Decline"}),
    ("offered-to-data", "otto", None),
    ("exception-pending", "sam", {"Approve", "Reject", "Transfer", "Revoke"}),
    ("exception-pending", "pat", {"Attest", "Revoke"}),
    ("exception-pending", "lee", {"Attest", "Transfer", "Revoke"}),
    ("revoked", "sam", set()),
    ("revoked", "lee", set()),
]


@pytest.mark.parametrize(
    ("situation", "persona", "expected"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in OFFERED],
)
def test_path_page_offers_the_persona_exactly_its_actions(
    client, personas, situations, situation, persona, expected
):
    path = situations[situation]()
    client.force_login(getattr(personas.users, persona))
    response = client.get(detail_url(path))
    if expected is None:
        assert response.status_code == 404
        assert buttons(response.content.decode()) == set()
        return
    assert response.status_code == 200
    assert buttons(response.content.decode()) == expected
