"""Outbound HTTP for chat and event webhooks, refusing internal addresses.

A webhook URL is configured by a team lead, so it must not become a way to reach the
registry's own network (SSRF). The host is resolved once, every address is checked
(loopback, private, link-local, reserved, multicast are refused unless the
NHI_WEBHOOK_ALLOWED_NETWORKS setting lists them), and the connection goes to the
checked address, so a DNS answer that changes between check and connect cannot slip
through.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings

from registry.services.delivery import DeliveryFailed

TIMEOUT_SECONDS = 10


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.NHI_WEBHOOK_ALLOWED_NETWORKS]


def _vetted_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryFailed(f"cannot resolve {host}: {exc}") from exc
    allowed = _allowed_networks()
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        internal = (
            address.is_private or address.is_loopback or address.is_link_local
            or address.is_reserved or address.is_multicast or address.is_unspecified
        )  # fmt: skip
        if internal and not any(address in network for network in allowed):
            raise DeliveryFailed(
                f"refused: {host} resolves to the internal address {address}", permanent=True
            )
    return str(addresses[0])


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a pre-checked address, still verifying the certificate for the host."""

    def __init__(self, host: str, address: str, port: int, **kwargs) -> None:
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, **kwargs) -> None:
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status; any non-2xx answer or network error is a failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed(f"refused: not an http(s) URL: {parts.scheme}://…", permanent=True)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DeliveryFailed(f"refused: invalid port in URL: {exc}", permanent=True) from exc
    address = _vetted_address(parts.hostname, port)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
            parts.hostname, address, port, timeout=TIMEOUT_SECONDS,
            context=ssl.create_default_context(),
        )  # fmt: skip
    else:
        conn = _PinnedHTTPConnection(parts.hostname, address, port, timeout=TIMEOUT_SECONDS)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "nhi-registry", **headers,
        })  # fmt: skip
        response = conn.getresponse()
        response.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{parts.hostname}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"{parts.hostname} answered HTTP {response.status}")
    return response.status
