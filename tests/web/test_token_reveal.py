"""Creating a team token in the browser: the secret is shown once, on the response to the
form (no-store, never kept by the registry), and sending that form again (a reload)
creates nothing: the form's one-time key (signed, bound to the person and the team,
short-lived) has been used, so the answer is a 303 to the team page with a message."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest
from django.core import signing

from registry.models import ApiToken, AuditEvent
from registry.services.tokens import TOKEN_ALREADY_CREATED
from registry.web.forms import TOKEN_FORM_EXPIRED, TokenCreateForm
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

PAGE = "/teams/payments/"
CREATE = f"{PAGE}tokens/"
SALT = "registry.web.forms.TokenCreateForm.once"
SECRET = re.compile(r"nhir_[0-9A-Za-z]{36}")


def form_key(page: str) -> str:
    keys = re.findall(r'<input type="hidden" name="once" value="([^"]+)"', page)
    assert len(keys) == 1, keys
    return keys[0]


def fields(key: str, name: str = "ci deploys") -> dict:
    return {"name": name, "scopes": ["read"], "expires_in_days": 90, "once": key}


def test_the_secret_is_shown_once_and_a_reload_creates_nothing(client, personas):
    client.force_login(personas.users.lee)
    data = fields(form_key(text(client.get(PAGE))))

    shown = client.post(CREATE, data)
    assert shown.status_code == 201
    assert shown["Cache-Control"] == "no-store"
    page = text(shown)
    secret = SECRET.search(page).group(0)
    assert f'value="{secret}"' in page
    assert 'data-team-url="/teams/payments/"' in page  # token_reveal.js: reload = GET
    assert '<button type="button" class="secondary" data-copy="new-token" hidden>' in page
    assert '<p class="small" role="status" aria-live="polite" data-copy-status></p>' in page
    assert "/static/js/token_reveal.js" in page
    # The page's new form carries a new key, not the one just used.
    assert form_key(page) != data["once"]

    reload = client.post(CREATE, data)
    assert reload.status_code == 303 and reload["Location"] == PAGE
    assert ApiToken.objects.count() == 1
    after = text(client.get(PAGE))
    assert TOKEN_ALREADY_CREATED in after
    assert secret not in after and 'name="new-token"' not in after

    # Nothing server-side holds the secret: not the session, not the audit, not the row.
    assert secret not in str(dict(client.session.items()))
    token = ApiToken.objects.get()
    assert secret not in str(list(ApiToken.objects.values()))
    created = AuditEvent.objects.get(action="api_token.created", object_id=str(token.pk))
    assert secret not in str(created.changes)
    assert created.changes["form_key"][1] == signing.loads(data["once"], salt=SALT)["n"]


def test_each_form_creates_its_own_token(client, personas):
    client.force_login(personas.users.lee)
    first, second = (form_key(text(client.get(PAGE))) for _ in range(2))
    assert client.post(CREATE, fields(first, "one")).status_code == 201
    assert client.post(CREATE, fields(second, "two")).status_code == 201
    assert sorted(ApiToken.objects.values_list("name", flat=True)) == ["one", "two"]


def test_a_refused_form_comes_back_with_a_fresh_key_that_works(client, personas):
    client.force_login(personas.users.lee)
    key = form_key(text(client.get(PAGE)))
    refused = client.post(CREATE, fields(key) | {"expires_in_days": 400})
    assert refused.status_code == 400
    fresh = form_key(text(refused))
    assert fresh != key
    assert client.post(CREATE, fields(fresh)).status_code == 201
    # The refused attempt did not use its key either.
    assert client.post(CREATE, fields(key, "again")).status_code == 201
    assert ApiToken.objects.count() == 2


def old_key(team, user, seconds_ago: int) -> str:
    then = time.time() - seconds_ago
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signing, "time", SimpleNamespace(time=lambda: then))
        return TokenCreateForm(team=team, user=user).fields["once"].initial


@pytest.mark.parametrize("case", ["expired", "someone_else", "another_team", "tampered"])
def test_a_key_not_issued_for_this_form_is_refused(client, personas, case):
    lee, payments = personas.users.lee, personas.teams.payments
    key = {
        "expired": lambda: old_key(payments, lee, 2 * 3600),
        "someone_else": lambda: old_key(payments, personas.users.sam, 0),
        "another_team": lambda: old_key(personas.teams.security, lee, 0),
        "tampered": lambda: old_key(payments, lee, 0)[:-2] + "xx",
    }[case]()
    client.force_login(lee)
    response = client.post(CREATE, fields(key))
    assert response.status_code == 400
    assert TOKEN_FORM_EXPIRED in text(response)
    assert "nhir_" not in text(response)
    assert not ApiToken.objects.exists()


def test_a_member_gets_no_form_and_is_refused(client, personas):
    client.force_login(personas.users.pat)
    assert 'name="once"' not in text(client.get(PAGE))
    key = old_key(personas.teams.payments, personas.users.pat, 0)
    assert client.post(CREATE, fields(key)).status_code == 403
    assert not ApiToken.objects.exists()
