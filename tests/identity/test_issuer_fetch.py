"""Reading an issuer's discovery document and keys: https only (loopback aside), no
redirect followed, one deadline for the whole call, and a failure remembered briefly so a
down issuer does not hold every request for the full deadline."""

from __future__ import annotations

import time

import pytest

from registry.runtime import oidc_keys
from registry.runtime.oidc_keys import IssuerUnavailable


def test_the_discovery_document_is_read_and_cached(issuer):
    assert oidc_keys.discovery(issuer.url)["jwks_uri"] == f"{issuer.url}/jwks"
    oidc_keys.discovery(issuer.url)
    assert issuer.fetches == ["/.well-known/openid-configuration"]


def test_a_redirect_is_not_followed(issuer):
    issuer.redirects["/.well-known/openid-configuration"] = f"{issuer.url}/elsewhere"
    with pytest.raises(IssuerUnavailable, match="redirect"):
        oidc_keys.discovery(issuer.url)
    assert issuer.fetches == ["/.well-known/openid-configuration"]  # /elsewhere never asked


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com",  # plain http to anything but loopback
        "ftp://127.0.0.1",
        "file:///etc",
    ],
)
def test_only_https_or_loopback_is_contacted(url):
    with pytest.raises(IssuerUnavailable, match="not an https URL"):
        oidc_keys.discovery(url)


def test_a_failure_is_remembered_briefly(issuer, monkeypatch):
    issuer.down = True
    with pytest.raises(IssuerUnavailable):
        oidc_keys.discovery(issuer.url)
    issuer.down = False
    with pytest.raises(IssuerUnavailable, match="not asked again"):
        oidc_keys.discovery(issuer.url)  # answered from memory, the issuer not asked
    assert len(issuer.fetches) == 1
    # Once the failure is older than FAILURE_CACHE_SECONDS the issuer is asked again.
    later = time.monotonic() + oidc_keys.FAILURE_CACHE_SECONDS + 1
    monkeypatch.setattr(oidc_keys.time, "monotonic", lambda: later)
    assert oidc_keys.discovery(issuer.url)["issuer"] == issuer.url
    assert len(issuer.fetches) == 2


def test_the_deadline_covers_the_whole_call(issuer, settings):
    settings.NHI_OIDC_HTTP_TIMEOUT = 1
    issuer.drip_seconds = 0.1  # every read succeeds; the body would take ~20 s in all
    started = time.monotonic()
    with pytest.raises(IssuerUnavailable):
        oidc_keys.discovery(issuer.url)
    assert time.monotonic() - started < 2.5
