"""An in-process gateway (the OAuth routes over SQLite) wired to the Atlassian simulator, and a browser-ish flow."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.caller import Caller
from policyarc.identity.atlassian import AtlassianIdentity
from policyarc.oauth import (
    GatewayAuthProvider,
    MetadataDocumentFetcher,
    OAuthConfig,
    TokenResolver,
)
from policyarc.oauth.assemble import build_oauth
from policyarc.oauth.throttle import OAuthLimiters
from policyarc.secrets import KeyRing, column_aad
from policyarc.store.models import Connector, Environment, IdentityProvider
from policyarc.vault import TokenVault

ISSUER = "https://gw.example.com"
RESOURCE = f"{ISSUER}/mcp"
CALLBACK = f"{ISSUER}/oauth/idp/atlassian/callback"
APP_ID = "gw-test-app"
APP_SECRET = "gw-test-app-secret"
ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
GLOBEX = "7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b"
SCOPES = ("jira:issues:read", "jira:issues:write", "jira:projects:read")
CLIENT_REDIRECT = "http://127.0.0.1:9999/callback"
SIM_SEED = {
    "apps": [{"client_id": APP_ID, "client_secret": APP_SECRET, "name": "PolicyArc test", "callback_urls": [CALLBACK]}]
}


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        import time

        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class FakePolicy:
    """Grants `default` to everyone, plus per-email extras; `denied` wins."""

    default: set[str] = field(default_factory=lambda: {"jira:issues:read"})
    extra: dict[str, set[str]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)

    def allowed(self, caller: Caller, scope: str) -> bool:
        if scope in self.denied:
            return False
        return scope in self.default or scope in self.extra.get(caller.email, set())


class HostRouter(httpx.AsyncBaseTransport):
    """The gateway's outbound client: each host name goes to an in-process app."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        self._transports = {host: httpx.ASGITransport(app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)


class Documents:
    """Metadata documents by path, served at https://client.example; `hits` counts fetches."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.hits = 0

    async def serve(self, request: Request) -> Response:
        self.hits += 1
        doc = self.docs.get(request.url.path)
        if doc is None:
            return Response(status_code=404)
        if isinstance(doc, bytes):
            return Response(doc, media_type="application/json")
        return JSONResponse(doc)


@dataclass
class Gateway:
    client: httpx.AsyncClient  # the browser and the MCP client, talking to the gateway
    sim_client: httpx.AsyncClient  # the browser, at the simulator
    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    db_path: Path
    keyring: KeyRing
    clock: FakeClock
    policy: FakePolicy
    provider: GatewayAuthProvider
    resolver: TokenResolver
    config: OAuthConfig
    environment_id: str

    def db_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.db_path.parent.glob(self.db_path.name + "*") if p.is_file())

    async def register(self, **metadata: Any) -> dict[str, Any]:
        body = {"redirect_uris": [CLIENT_REDIRECT], "client_name": "Test Client", **metadata}
        response = await self.client.post("/register", json=body)
        assert response.status_code == 201, response.text
        registered: dict[str, Any] = response.json()
        return registered

    async def authorize(self, client_id: str, **overrides: str) -> tuple[httpx.Response, str]:
        """GET /authorize with PKCE S256; returns the response and the code verifier."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CLIENT_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "client-state-1",
            "scope": "jira:issues:read",
            "resource": RESOURCE,
            **overrides,
        }
        return await self.client.get("/authorize", params=params), verifier

    async def sign_in(self, login_url: str, email: str = "alice@example.com") -> httpx.Response:
        """From /oauth/login to the answer of our callback (the simulator consents at once)."""
        login = await self.client.get(path_of(login_url) + "&" + urlencode({"login_hint": email}))
        assert login.status_code == 303, login.text
        at_sim = await self.sim_client.get(login.headers["location"])
        assert at_sim.status_code == 302, at_sim.text
        return await self.client.get(path_of(at_sim.headers["location"]))

    async def consent(self, consent_url: str, decision: str = "allow") -> httpx.Response:
        page = await self.client.get(path_of(consent_url))
        assert page.status_code == 200, page.text
        return await self.client.post("/oauth/consent", data={**hidden_fields(page.text), "decision": decision})

    async def code_for(
        self, client: Mapping[str, Any], email: str = "alice@example.com", **overrides: str
    ) -> tuple[str, str]:
        """The whole browser part: authorize, sign in, consent. Returns (code, verifier)."""
        started, verifier = await self.authorize(client["client_id"], **overrides)
        assert started.status_code == 302, started.text
        signed_in = await self.sign_in(started.headers["location"], email)
        assert signed_in.status_code == 303, signed_in.text
        allowed = await self.consent(signed_in.headers["location"])
        assert allowed.status_code == 303, allowed.text
        query = query_of(allowed)
        assert query.get("state") == overrides.get("state", "client-state-1")
        return query["code"], verifier

    async def token(self, client: Mapping[str, Any], **form: str) -> httpx.Response:
        body = {"client_id": client["client_id"], **form}
        if client.get("client_secret"):
            body.setdefault("client_secret", client["client_secret"])
        return await self.client.post("/token", data=body)

    async def exchange(self, client: Mapping[str, Any], code: str, verifier: str) -> httpx.Response:
        return await self.token(
            client, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=CLIENT_REDIRECT
        )

    async def tokens_for(self, client: Mapping[str, Any], email: str = "alice@example.com") -> dict[str, Any]:
        code, verifier = await self.code_for(client, email)
        response = await self.exchange(client, code, verifier)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def query_of(response: httpx.Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def hidden_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


async def seed_environment(
    sessions: async_sessionmaker[AsyncSession], keyring: KeyRing, *, cloud_id: str = ACME, site: str = "acme"
) -> str:
    async with sessions.begin() as db:
        env = Environment(name="default")
        db.add(env)
        await db.flush()
        idp = IdentityProvider(
            id="idp0000000000000000000000000001",
            environment_id=env.id,
            kind="atlassian",
            client_id=APP_ID,
            client_secret_enc="",
            scopes="read:jira-work read:jira-user write:jira-work read:me offline_access",
        )
        idp.client_secret_enc = keyring.encrypt(
            APP_SECRET, aad=column_aad("identity_providers", "client_secret_enc", idp.id)
        )
        db.add(idp)
        db.add(Connector(environment_id=env.id, template="jira-user", slug="jira", site=site, cloud_id=cloud_id))
        return env.id


def build_gateway_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    config: OAuthConfig,
    keyring: KeyRing,
    clock: FakeClock,
    policy: FakePolicy,
    outbound: httpx.AsyncClient,
    limiters: OAuthLimiters | None = None,
) -> tuple[Starlette, GatewayAuthProvider, TokenResolver]:
    identity = AtlassianIdentity(outbound, auth_url="http://sim/auth", api_url="http://sim/api")
    oauth = build_oauth(
        sessions=sessions,
        config=config,
        keyring=keyring,
        identity=identity,
        policy=policy,
        clock=clock,
        links=TokenVault(sessions=sessions, keyring=keyring, identity=identity, clock=clock),
        documents=MetadataDocumentFetcher(outbound, allow_loopback_http=config.loopback_issuer, resolve_hosts=False),
        limiters=limiters,
    )
    return Starlette(routes=oauth.routes), oauth.provider, oauth.resolver
