"""A local OpenID issuer for the identity tests: an RSA key, its discovery document and
JWKS served over HTTP on loopback by a small thread, and tokens signed with PyJWT."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from registry.runtime import oidc_keys


class LocalIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.fetches: list[str] = []
        # path -> Location: answered with a 302 there instead of the document.
        self.redirects: dict[str, str] = {}
        # Answer 503 to everything (a down issuer).
        self.down = False
        # Send the body a byte at a time, this many seconds apart (a slow-drip server).
        self.drip_seconds = 0.0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches.append(self.path)
                documents = {
                    "/.well-known/openid-configuration": {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                    },
                    "/jwks": {"keys": [issuer.public_jwk()]},
                }
                if issuer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path in issuer.redirects:
                    self.send_response(302)
                    self.send_header("Location", issuer.redirects[self.path])
                    self.end_headers()
                    return
                body = documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                payload = json.dumps(body or {}).encode()
                if not issuer.drip_seconds:
                    self.wfile.write(payload)
                    return
                for index in range(len(payload)):
                    try:
                        self.wfile.write(payload[index : index + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up, as it should
                    time.sleep(issuer.drip_seconds)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    def rotate(self) -> None:
        """A new signing key under a new key id (the old one is no longer published)."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"key-{len(self.kid) + 1}"

    def sign(
        self, claims: dict[str, Any], *, key=None, alg: str = "RS256", kid: str | None = None
    ) -> str:
        now = timezone.now()
        body = {
            "iss": self.url,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
        } | claims
        return jwt.encode(
            body,
            key if key is not None else self.key,
            algorithm=alg,
            headers={"kid": kid or self.kid},
        )


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer()
    local.thread.start()
    oidc_keys.forget_cached()
    try:
        yield local
    finally:
        local.server.shutdown()
        local.server.server_close()
        local.thread.join(5)
        oidc_keys.forget_cached()
