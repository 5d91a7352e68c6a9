"""The ID token checks of the sign-in (registry/web/oidc.py), with tokens signed by a
local issuer's key: a wrong audience, an expired token and a replayed nonce are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from registry.runtime.oidc_keys import TokenRefused
from registry.web.oidc import NONCE_MISMATCH, WRONG_AUTHORIZED_PARTY, verify_id_token

CLIENT = "nhi-registry-web"


@pytest.fixture(autouse=True)
def provider_settings(settings, issuer):
    settings.NHI_OIDC_ISSUER = issuer.url
    settings.OIDC_RP_CLIENT_ID = CLIENT


def id_token(issuer, **claims):
    return issuer.sign({"sub": "ada-1", "aud": CLIENT, "nonce": "n-1"} | claims)


def refusal(raw, nonce="n-1", now=None) -> TokenRefused:
    with pytest.raises(TokenRefused) as refused:
        verify_id_token(raw, nonce=nonce, now=now or timezone.now())
    return refused.value


def test_a_good_token_verifies(issuer):
    assert verify_id_token(id_token(issuer), nonce="n-1", now=timezone.now())["sub"] == "ada-1"


def test_a_wrong_audience_is_refused(issuer):
    assert refusal(id_token(issuer, aud="another-app")).why == "wrong_audience"


def test_several_audiences_need_this_client_as_authorized_party(issuer):
    token = id_token(issuer, aud=[CLIENT, "another-app"], azp="another-app")
    assert refusal(token).message == WRONG_AUTHORIZED_PARTY
    ok = id_token(issuer, aud=[CLIENT, "another-app"], azp=CLIENT)
    assert verify_id_token(ok, nonce="n-1", now=timezone.now())["azp"] == CLIENT


def test_an_expired_token_is_refused(issuer):
    token = id_token(issuer)
    later = timezone.now() + dt.timedelta(minutes=7)  # 5 minutes' life + 1 minute's leeway
    assert refusal(token, now=later).why == "expired"


def test_a_replayed_nonce_is_refused(issuer):
    # A token captured from an earlier sign-in carries that sign-in's nonce; this sign-in
    # sent another one (and the earlier one was spent with its state).
    assert refusal(id_token(issuer, nonce="n-0"), nonce="n-1").message == NONCE_MISMATCH
    assert refusal(id_token(issuer), nonce=None).message == NONCE_MISMATCH


def test_another_issuer_and_a_forged_signature_are_refused(issuer):
    assert refusal(id_token(issuer, iss="https://elsewhere.example")).why == "wrong_issuer"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = issuer.sign({"sub": "ada-1", "aud": CLIENT, "nonce": "n-1"}, key=stranger)
    assert refusal(forged).why == "bad_signature"
    unknown_key = issuer.sign({"sub": "ada-1", "aud": CLIENT, "nonce": "n-1"}, kid="other")
    assert refusal(unknown_key).why == "unknown_key"
