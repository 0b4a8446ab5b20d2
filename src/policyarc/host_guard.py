"""`HostOriginGuard`: DNS-rebinding protection for /mcp, with exact Host and Origin matching.

The MCP transports must validate `Origin` (and this gateway validates `Host`) so that a web page whose name
was rebound to the gateway's address cannot drive it. The SDK's `TransportSecuritySettings` matches `host:*`
patterns by prefix, so `Origin: http://127.0.0.1:8310.evil.example` passed as `http://127.0.0.1:*`; here a
value is parsed (scheme, host name, port of digits only) and compared as a whole.

What is allowed follows the public URL:
- always the public URL's own host (its port, or the scheme's default when the header names none);
- only when the public URL is itself loopback (a developer's machine): `localhost`, `127.0.0.1` and `[::1]` on
  any port, as Host and as http(s) Origin, so local browser-based clients (the MCP Inspector) work. With an
  https public URL a loopback Host or Origin is refused: nothing local needs /mcp (health checks use /healthz).

An absent Origin is fine (not a browser, or same-origin); an absent or repeated Host is not.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AllowedPeers", "HostOriginGuard"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
# RFC 9110 section 7.2 (Host = uri-host [":" port]) and RFC 6454 section 6.2 (scheme "://" host [":" port]),
# restricted to what a gateway's name can be: a DNS name, an IPv4 address or a bracketed IPv6 address.
_HOST = r"(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([0-9]{1,5}))?"
_HOST_RE = re.compile(_HOST)
_ORIGIN_RE = re.compile(r"(https?)://" + _HOST)


@dataclass(frozen=True)
class AllowedPeers:
    """Who may address /mcp: the public (name, port), and whether loopback names on any port are also fine."""

    scheme: str
    name: str
    port: int
    loopback: bool

    @classmethod
    def for_public_url(cls, public_url: str) -> AllowedPeers:
        parts = urlsplit(public_url)
        scheme = parts.scheme.lower()
        hostname = (parts.hostname or "").lower()
        name = f"[{hostname}]" if ":" in hostname else hostname
        port = parts.port or _DEFAULT_PORTS[scheme]
        return cls(scheme=scheme, name=name, port=port, loopback=_is_loopback(hostname))

    def host_allowed(self, host: str) -> bool:
        match = _HOST_RE.fullmatch(host.lower())
        if match is None:
            return False
        name, port = match.group(1), match.group(2)
        if self.loopback and name in _LOOPBACK_NAMES:
            return True
        return name == self.name and (int(port) if port else _DEFAULT_PORTS[self.scheme]) == self.port

    def origin_allowed(self, origin: str) -> bool:
        match = _ORIGIN_RE.fullmatch(origin.lower())
        if match is None:
            return False  # "null", a path, user info, a port that is not digits
        scheme, name, port = match.group(1), match.group(2), match.group(3)
        if self.loopback and name in _LOOPBACK_NAMES:
            return True
        return (
            scheme == self.scheme and name == self.name and (int(port) if port else _DEFAULT_PORTS[scheme]) == self.port
        )


class HostOriginGuard:
    """Pure ASGI middleware in front of /mcp (both the SDK transport and the fast path): 421 for a Host that
    is not ours (RFC 9110 section 15.5.20), 403 for a foreign Origin (as the MCP transport requires)."""

    def __init__(self, app: ASGIApp, peers: AllowedPeers) -> None:
        self.app = app
        self._peers = peers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host: str | None = None
        origin: str | None = None
        hosts = 0
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
                hosts += 1
            elif name == b"origin":
                origin = "" if origin is not None else value.decode("latin-1")  # two Origins: "" is refused
        if hosts != 1 or host is None or not self._peers.host_allowed(host):
            await _refuse(send, 421, "invalid_host", "This server does not answer for that Host.")
            return
        if origin is not None and not self._peers.origin_allowed(origin):
            await _refuse(send, 403, "invalid_origin", "Requests from that Origin are not allowed.")
            return
        await self.app(scope, receive, send)


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


async def _refuse(send: Send, status: int, error: str, description: str) -> None:
    body = orjson.dumps({"error": error, "error_description": description})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
