"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25): a client whose
`client_id` is an https URL is described by the JSON document served at that URL.

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is narrow: https only
(plain http only to a loopback host, and only when the gateway itself runs on loopback for development), no
redirects, one deadline, a small size cap, and hosts that resolve to private, loopback or link-local
addresses are refused (unless loopback is allowed). The check resolves the name before the request, so a DNS
answer that changes in between (rebinding) is not covered; a deployment that cares runs the gateway behind an
egress proxy.

A fetch cannot grow the gateway or hold its connections: the document comes over its own small pool, streamed and
cut at `max_bytes`, uncompressed only (`cimd_http`); connect, headers and body share one deadline; at most
`max_concurrent` fetches run at once and the next is refused at once rather than queued; and a refused URL (or
host) is not fetched again for `refusal_ttl` seconds (`cimd_refusals`), so the gateway cannot be made to send
requests at will.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from policyarc.oauth.cimd_http import DocumentUnavailable, document_client, read_document
from policyarc.oauth.cimd_refusals import Refusals
from policyarc.oauth.config import Clock, SystemClock

__all__ = [
    "CimdError",
    "CimdLimits",
    "ClientDocument",
    "MetadataDocumentFetcher",
    "document_client",
    "is_metadata_url",
    "redirect_uri_allowed",
]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class CimdError(Exception):
    """The document cannot be used; the message says why (it never echoes the document)."""


@dataclass(frozen=True)
class CimdLimits:
    max_bytes: int = 16 * 1024  # the draft's "Maximum Response Size" consideration; real documents are far smaller
    deadline: float = 5.0  # seconds for name lookup, connect, headers and body together
    max_concurrent: int = 8  # fetches in flight; also the size of the documents' own connection pool
    refusal_ttl: float = 300.0  # seconds a refused URL (or host) is answered from memory
    max_refusals: int = 1024  # URLs (and hosts) remembered at most (a URL is at most 2 KiB), oldest forgotten first
    host_strikes: int = 5  # different URLs refused on one host within refusal_ttl before the host is refused

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.deadline <= 0 or self.max_concurrent < 1 or self.host_strikes < 1:
            raise ValueError("CimdLimits: max_bytes, deadline, max_concurrent and host_strikes must be positive")


@dataclass(frozen=True)
class ClientDocument:
    client_id: str
    client_name: str | None
    redirect_uris: tuple[str, ...]
    scope: str | None

    def as_metadata(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "scope": self.scope,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }


def is_metadata_url(client_id: str) -> bool:
    """Whether `client_id` names a metadata document rather than a registered client."""
    return client_id.startswith(("https://", "http://"))


def redirect_uri_allowed(uri: str) -> bool:
    """https anywhere, http on loopback (RFC 8252 section 7.3), or a native app's private-use scheme."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or parts.username or parts.password:
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return bool(parts.hostname)
    if scheme == "http":
        return (parts.hostname or "") in _LOOPBACK_NAMES
    # RFC 8252 section 7.1: reverse-domain private-use schemes; never script-bearing ones.
    return "." in scheme and scheme not in ("javascript", "data", "vbscript", "file")


class MetadataDocumentFetcher:
    """Fetches and validates Client ID Metadata Documents, within `CimdLimits`.

    `http` should be the fetcher's own client (`document_client(limits.max_concurrent)`), never the one that
    carries Jira calls; `aclose()` closes it.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allow_loopback_http: bool = False,
        resolve_hosts: bool = True,
        limits: CimdLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._http = http
        self._allow_loopback = allow_loopback_http
        self._resolve_hosts = resolve_hosts
        self._limits = limits or CimdLimits()
        self._refusals = Refusals(
            clock=clock or SystemClock(),
            ttl=self._limits.refusal_ttl,
            max_entries=self._limits.max_refusals,
            host_strikes=self._limits.host_strikes,
        )
        self._in_flight = 0

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, client_id: str) -> ClientDocument:
        host = self._check_url(client_id)
        remembered = self._refusals.reason(client_id, host)
        if remembered is not None:
            raise CimdError(remembered)
        if self._in_flight >= self._limits.max_concurrent:
            # Not remembered: it says nothing about this URL. Refused rather than queued, so a burst of slow
            # documents costs other clients a retry, not an unbounded wait.
            raise CimdError(
                "the gateway is fetching too many client metadata documents at once; try again in a few seconds"
            )
        self._in_flight += 1
        try:
            return await self._fetch(client_id, host)
        except DocumentUnavailable as exc:
            if exc.blame == "host":
                self._refusals.refuse_host(host, str(exc))
            else:
                self._refusals.refuse_url(client_id, host, str(exc))
            raise CimdError(str(exc)) from None
        except CimdError as exc:
            self._refusals.refuse_url(client_id, host, str(exc))
            raise
        finally:
            self._in_flight -= 1

    async def _fetch(self, client_id: str, host: str) -> ClientDocument:
        limits = self._limits
        try:
            async with asyncio.timeout(limits.deadline):
                if self._resolve_hosts:
                    await self._check_addresses(host)
                body = await read_document(
                    self._http, client_id, max_bytes=limits.max_bytes, phase_timeout=limits.deadline
                )
        except TimeoutError:
            raise DocumentUnavailable(
                f"the client's metadata document did not arrive within {limits.deadline:g} s"
            ) from None
        try:
            document = json.loads(body)
        except ValueError:
            raise CimdError("the client's metadata document is not JSON") from None
        return _validate(client_id, document)

    def _check_url(self, client_id: str) -> str:
        parts = urlsplit(client_id)
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password or parts.fragment:
            raise CimdError("a client_id URL needs a host and no credentials or fragment")
        if parts.path in ("", "/") or "/./" in parts.path or "/../" in parts.path:
            raise CimdError("a client_id URL needs a path (and no dot segments)")
        loopback = _is_loopback(host)
        if parts.scheme == "http" and not (loopback and self._allow_loopback):
            raise CimdError("a client_id URL must be https")
        if parts.scheme not in ("http", "https"):
            raise CimdError("a client_id URL must be https")
        if _is_ip(host) and not _public_ip(host) and not (loopback and self._allow_loopback):
            raise CimdError("a client_id URL must not point at a private address")
        return host

    async def _check_addresses(self, host: str) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            raise DocumentUnavailable(f"the client_id host {host} does not resolve", blame="host") from None
        for info in infos:
            address = str(info[4][0])
            if not _public_ip(address) and not (self._allow_loopback and _is_loopback(address)):
                raise DocumentUnavailable("a client_id URL must not point at a private address", blame="host")


def _validate(client_id: str, document: Any) -> ClientDocument:
    if not isinstance(document, dict):
        raise CimdError("the client's metadata document is not a JSON object")
    if document.get("client_id") != client_id:
        raise CimdError("the metadata document's client_id is not the URL it was fetched from")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise CimdError("the metadata document needs redirect_uris, a non-empty list of URLs")
    bad = [u for u in uris if not redirect_uri_allowed(u)]
    if bad:
        raise CimdError("the metadata document lists a redirect URI that is neither https, loopback nor native")
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        # A document is public, so it cannot carry a shared secret; private_key_jwt is not supported here.
        raise CimdError("a metadata-document client must use token_endpoint_auth_method none")
    grants = document.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or "authorization_code" not in grants:
        raise CimdError("the metadata document's grant_types must include authorization_code")
    name = document.get("client_name")
    scope = document.get("scope")
    return ClientDocument(
        client_id=client_id,
        client_name=name[:200] if isinstance(name, str) and name.strip() else None,
        redirect_uris=tuple(uris),
        scope=scope if isinstance(scope, str) else None,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _public_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_global
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
