"""token_create: a token lives one to 365 days, and a personal token needs a team."""

from __future__ import annotations

import pytest

from registry.rules import errors
from registry.services.tokens import MAX_TOKEN_DAYS
from tests.api.helpers import DAY, issue, unchanged
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("days", [0, -1, MAX_TOKEN_DAYS + 1, 366, 1000])
def test_token_lifetime_is_one_to_365_days(personas, days):
    with unchanged(), pytest.raises(errors.Invalid) as refusal:
        issue(personas, expires_in_days=days)
    assert refusal.value.errors == {"expires_in_days": [errors.TOKEN_LIFETIME.format(days=365)]}


def test_a_year_long_token_is_allowed(personas):
    token, _ = issue(personas, expires_in_days=365, now=NOW)
    assert token.expires_at == NOW + 365 * DAY
    assert token.access_path.expires_at == token.expires_at


def test_a_personal_token_for_someone_in_no_team_is_refused(personas):
    with unchanged(), pytest.raises(errors.Invalid):
        issue(personas, user=personas.users.otto)
