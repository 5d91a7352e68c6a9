"""Outbound HTTP for chat and event webhooks: bounded in time and size, never inward.

A webhook URL is configured by a team lead, so it must neither reach the registry's own
network (SSRF) nor hold a worker hostage:

- The host is resolved once and every address must be a public internet address
  (`is_global`), including the IPv4 address inside IPv4-mapped, 6to4, Teredo and NAT64
  IPv6 forms; carrier-grade NAT (100.64.0.0/10, where cloud metadata endpoints live) is not
  global. Only NHI_WEBHOOK_ALLOWED_NETWORKS lifts this. The refusal does not say what
  the host resolved to (that would map the internal network for whoever asks). The
  connection goes to the checked address, so a DNS answer that changes between check
  and connect cannot slip through.
- Connecting has its own short timeout, and the whole exchange a total deadline: a
  watchdog (deadline.py) shuts the socket when it passes, so a server that drips one byte a second
  cannot stretch a call past it. At most RESPONSE_CAP bytes of the answer are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings

from registry.services.delivery import DeliveryFailed
from workers.channels.deadline import Deadline

RESPONSE_CAP = 64 * 1024
NOT_PUBLIC = "refused: the webhook's host is not a public internet address"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.NHI_WEBHOOK_ALLOWED_NETWORKS]


def embedded_addresses(address: Address) -> list[Address]:
    """The address and any IPv4 address an IPv6 form carries (mapped, 6to4, Teredo):
    each must be public, or `::ffff:10.0.0.1` would reach 10.0.0.1."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64:  # the well-known NAT64 prefix carries an IPv4 address
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: Address) -> bool:
    return all(a.is_global and not a.is_multicast for a in embedded_addresses(address))


def _vetted_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"cannot resolve {host}: {exc}") from exc
    allowed = _allowed_networks()
    # An AF_INET or AF_INET6 socket address: its host is a str (typeshed allows int too).
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if not is_public(address) and not any(address in network for network in allowed):
            raise DeliveryFailed(NOT_PUBLIC, permanent=True)
    return str(addresses[0])


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a pre-checked address, still verifying the certificate for the host."""

    def __init__(
        self,
        host: str,
        address: str,
        port: int,
        *,
        context: ssl.SSLContext,
        connect_timeout: float,
        **kw,
    ):
        super().__init__(host, port, context=context, **kw)
        self._address = address
        self._connect_timeout = connect_timeout
        self._tls = context  # the context HTTPSConnection set up (ALPN etc.) in place

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        sock.settimeout(self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, *, connect_timeout: float, **kw):
        super().__init__(host, port, **kw)
        self._address = address
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        self.sock.settimeout(self.timeout)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status; any non-2xx answer, network error or a call that
    outlasts NHI_OUTBOUND_TOTAL_SECONDS is a failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed(f"refused: not an http(s) URL: {parts.scheme}://…", permanent=True)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DeliveryFailed(f"refused: invalid port in URL: {exc}", permanent=True) from exc
    total = float(settings.NHI_OUTBOUND_TOTAL_SECONDS)
    started = time.monotonic()
    address = _vetted_address(parts.hostname, port)
    limits = {
        "timeout": total,
        "connect_timeout": min(float(settings.NHI_OUTBOUND_CONNECT_SECONDS), total),
    }
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPSConnection(
            parts.hostname, address, port, context=ssl.create_default_context(), **limits
        )
    else:
        conn = _PinnedHTTPConnection(parts.hostname, address, port, **limits)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    remaining = max(total - (time.monotonic() - started), 0.01)
    deadline = Deadline(remaining)
    deadline.watch(lambda: conn.sock)
    try:
        with deadline:
            conn.request("POST", target, body=body, headers={
                "Content-Type": "application/json", "User-Agent": "nhi-registry", **headers,
            })  # fmt: skip
            response = conn.getresponse()
            response.read(RESPONSE_CAP)
    except (OSError, http.client.HTTPException) as exc:
        # The socket's own timeout (also `total`) may fire a moment before the watchdog.
        if deadline.expired or isinstance(exc, TimeoutError):
            raise DeliveryFailed(f"{parts.hostname}: no answer within {total:g} s") from exc
        raise DeliveryFailed(f"{parts.hostname}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        conn.close()
    if deadline.expired:
        raise DeliveryFailed(f"{parts.hostname}: no answer within {total:g} s")
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"{parts.hostname} answered HTTP {response.status}")
    return response.status
