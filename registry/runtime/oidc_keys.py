"""An OpenID issuer's discovery document and signing keys, fetched over https with one
deadline for the whole call and no redirect followed, and cached (a failure briefly);
and the one check of a JWT it signed (signature, issuer, audience, times).

Shared by people's sign-in (registry/web/oidc.py) and pipelines' CI tokens
(registry/services/ci_trust.py), so both refuse the same things the same way: an
algorithm outside ALLOWED_ALGORITHMS (never "none", never a shared-secret HS*), an
unknown key, a bad signature, another issuer or audience, an expired or not-yet-valid
token. Time is passed in. Nothing here logs or keeps a token.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
import urllib3
from django.conf import settings

# Asymmetric signatures only: a verifier holding an HS* secret could forge tokens, and
# "none" is no signature at all.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
# A clock a few seconds off between the issuer and us must not refuse a fresh token.
LEEWAY = dt.timedelta(seconds=60)
# How long a discovery document or a key set is reused before it is fetched again.
CACHE_SECONDS = 3600
# An unknown key id refetches the key set (the issuer rotated its keys), but at most
# this often: a stream of forged key ids must not turn into a stream of fetches.
REFETCH_AFTER_SECONDS = 60
# Larger answers are not a discovery document or a key set.
MAX_DOCUMENT_BYTES = 512 * 1024
# A failed fetch is answered from memory this long before the issuer is asked again.
FAILURE_CACHE_SECONDS = 30


class TokenRefused(Exception):
    """A JWT that is not accepted. `why` is a short code for the audit; the message
    says what was wrong without repeating the token."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why
        self.message = message


class IssuerUnavailable(Exception):
    """The issuer's discovery document or keys could not be had within the deadline."""


@dataclass
class _Entry:
    value: dict[str, Any]
    fetched_at: float


@dataclass
class _Cache:
    entries: dict[str, _Entry] = field(default_factory=dict)
    # key -> (when, why) of the last failed fetch, answered from here for a while.
    failures: dict[str, tuple[float, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_documents = _Cache()
_key_sets = _Cache()


def _deadline() -> float:
    return float(getattr(settings, "NHI_OIDC_HTTP_TIMEOUT", 5))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_insecure(url: str) -> None:
    """https only: a key set read over plain http could be swapped on the way and would
    then vouch for forged tokens. Loopback (the tests' local issuers) is the exception."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise IssuerUnavailable(f"{url} is not an https URL.")


def _set_read_timeout(response: requests.Response, seconds: float) -> None:
    # `timeout=` bounds each socket read, so a server sending a byte at a time could keep
    # the call alive indefinitely; each read is given only what is left of the deadline.
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def _read_within(response: requests.Response, url: str, ends_at: float) -> bytes:
    body = bytearray()
    while True:
        remaining = ends_at - time.monotonic()
        if remaining <= 0:
            raise IssuerUnavailable(f"{url} did not answer within {_deadline():g} s.")
        _set_read_timeout(response, remaining)
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise IssuerUnavailable(f"{url} answered with more than {MAX_DOCUMENT_BYTES} bytes.")


def _fetch_json(url: str) -> dict[str, Any]:
    """One GET within the deadline for the whole call (connecting, waiting and reading),
    no redirect followed (discovery names the issuer's own endpoints; a redirect could
    send us anywhere, plain http included)."""
    _refuse_insecure(url)
    ends_at = time.monotonic() + _deadline()
    try:
        with requests.get(url, timeout=_deadline(), stream=True, allow_redirects=False) as response:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise IssuerUnavailable(
                    f"{url} answered with a redirect ({response.status_code}), not followed."
                )
            response.raise_for_status()
            body = _read_within(response, url, ends_at)
        document = json.loads(body)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise IssuerUnavailable(f"{url} could not be read: {type(exc).__name__}.") from exc
    if not isinstance(document, dict):
        raise IssuerUnavailable(f"{url} did not answer with a JSON object.")
    return document


def _cached(
    cache: _Cache, key: str, load: Callable[[], dict[str, Any]], *, refresh: bool = False
) -> dict[str, Any]:
    now = time.monotonic()
    with cache.lock:
        entry = cache.entries.get(key)
        fresh = entry is not None and now - entry.fetched_at < CACHE_SECONDS
        may_refetch = entry is None or now - entry.fetched_at >= REFETCH_AFTER_SECONDS
        if entry is not None and fresh and not (refresh and may_refetch):
            return entry.value
        failure = cache.failures.get(key)
        if failure is not None and now - failure[0] < FAILURE_CACHE_SECONDS:
            # A down issuer is not asked again for a while: otherwise every request
            # presenting a token would wait out the whole deadline in a worker.
            if entry is not None and fresh:
                return entry.value
            raise IssuerUnavailable(f"{failure[1]} (not asked again for a while)")
    try:
        value = load()  # outside the lock: a slow issuer must not hold up other issuers
    except IssuerUnavailable as exc:
        with cache.lock:
            cache.failures[key] = (time.monotonic(), str(exc))
        raise
    with cache.lock:
        cache.entries[key] = _Entry(value=value, fetched_at=time.monotonic())
        cache.failures.pop(key, None)
    return value


def discovery(issuer: str) -> dict[str, Any]:
    """The issuer's `/.well-known/openid-configuration`, which must name the issuer
    itself (OpenID Connect Discovery 1.0, section 4.3)."""

    def load() -> dict[str, Any]:
        document = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != issuer:
            raise IssuerUnavailable(
                f"The discovery document names the issuer {document.get('issuer')!r}, "
                f"not {issuer!r}."
            )
        if not isinstance(document.get("jwks_uri"), str):
            raise IssuerUnavailable("The discovery document has no jwks_uri.")
        return document

    return _cached(_documents, issuer, load)


def _signing_key(issuer: str, kid: str | None, alg: str) -> jwt.PyJWK:
    jwks_uri = discovery(issuer)["jwks_uri"]
    for refresh in (False, True):
        key_set = _cached(_key_sets, jwks_uri, lambda: _fetch_json(jwks_uri), refresh=refresh)
        for candidate in key_set.get("keys", []):
            if not isinstance(candidate, dict) or candidate.get("use", "sig") != "sig":
                continue
            if kid is not None and candidate.get("kid") != kid:
                continue
            if candidate.get("alg", alg) != alg:
                continue
            try:
                return jwt.PyJWK(candidate, algorithm=alg)
            except jwt.PyJWTError:
                continue
    raise TokenRefused("unknown_key", "The token is signed with a key the issuer does not publish.")


def forget_cached() -> None:
    """Drop every fetched document and key set (tests start each issuer afresh)."""
    for cache in (_documents, _key_sets):
        with cache.lock:
            cache.entries.clear()
            cache.failures.clear()


def unverified_claims(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) read without checking anything, to choose the issuer and key.
    Never trusted on their own."""
    try:
        return jwt.get_unverified_header(raw), jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRefused("malformed", "The token is not a well-formed JWT.") from exc


def looks_like_jwt(raw: str) -> bool:
    """Three base64url segments starting with a JSON header: a JWT, not a registry token."""
    return raw.count(".") == 2 and raw.startswith("eyJ")


def verify(raw: str, *, issuer: str, audiences: Iterable[str], now: dt.datetime) -> dict[str, Any]:
    """The claims of `raw` once its signature (by a published key of `issuer`), issuer,
    audience and validity period at `now` have all been checked."""
    header, claims = unverified_claims(raw)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise TokenRefused(
            "algorithm", f"The token's algorithm {alg!r} is not accepted (asymmetric only)."
        )
    if claims.get("iss") != issuer:
        raise TokenRefused("wrong_issuer", "The token was not issued by the expected issuer.")
    try:
        key = _signing_key(issuer, header.get("kid"), alg)
    except IssuerUnavailable as exc:
        raise TokenRefused(
            "issuer_unavailable", f"The issuer's keys could not be read: {exc}"
        ) from exc
    audiences = list(audiences)
    try:
        # Times are checked below against `now`, the caller's clock, not PyJWT's.
        verified = jwt.decode(
            raw,
            key,
            algorithms=[alg],
            audience=audiences,
            issuer=issuer,
            options={
                "require": ["exp", "iat", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError as exc:
        raise TokenRefused("wrong_audience", "The token is meant for another audience.") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRefused(
            "wrong_issuer", "The token was not issued by the expected issuer."
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRefused("missing_claim", f"The token has no {exc.claim!r} claim.") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRefused("bad_signature", "The token's signature does not verify.") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused("malformed", "The token could not be verified.") from exc
    _check_times(verified, now)
    return verified


def _timestamp(claims: dict[str, Any], name: str) -> dt.datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRefused("malformed", f"The token's {name!r} claim is not a time.")
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


def _check_times(claims: dict[str, Any], now: dt.datetime) -> None:
    expires = _timestamp(claims, "exp")
    if expires is not None and expires <= now - LEEWAY:
        raise TokenRefused("expired", "The token has expired.")
    not_before = _timestamp(claims, "nbf")
    if not_before is not None and not_before > now + LEEWAY:
        raise TokenRefused("not_yet_valid", "The token is not valid yet.")
    issued = _timestamp(claims, "iat")
    if issued is not None and issued > now + LEEWAY:
        raise TokenRefused("not_yet_valid", "The token claims to be issued in the future.")
