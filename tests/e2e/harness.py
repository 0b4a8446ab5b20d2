"""The whole product in one process: the gateway app (create_app) wired to the Atlassian simulator, an MCP SDK
client that signs in through the standard MCP authorization flow, and a scripted browser for the pages.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from starlette.applications import Starlette

from policyarc.app import Gateway, create_app
from policyarc.demo import connect_atlassian_jira
from policyarc.settings import load_settings
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.tracing import Tracing

GATEWAY = "https://gw.test"
MCP_URL = f"{GATEWAY}/mcp"
APP_ID = "gw-e2e-app"
APP_SECRET = "gw-e2e-app-secret"
# A second Atlassian app, for a second environment (tests/e2e/test_environments.py).
STAGING_APP_ID = "gw-e2e-staging-app"
STAGING_APP_SECRET = "gw-e2e-staging-app-secret"
CLIENT_REDIRECT = "http://127.0.0.1:33418/callback"
SIM_SEED = {
    "apps": [
        {
            "client_id": client_id,
            "client_secret": secret,
            "name": name,
            "callback_urls": [f"{GATEWAY}/oauth/idp/atlassian/callback"],
        }
        for client_id, secret, name in (
            (APP_ID, APP_SECRET, "PolicyArc e2e"),
            (STAGING_APP_ID, STAGING_APP_SECRET, "PolicyArc e2e staging"),
        )
    ]
}


class HostRouter(httpx.AsyncBaseTransport):
    """A browser's network: each host name reaches one in-process app."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        self._transports = {host: httpx.ASGITransport(app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)


def hidden_fields(page: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in pairs}


class Browser:
    """Follows redirects across the gateway and the simulator, fills the sign-in and consent pages."""

    def __init__(self, gateway: Starlette, sim: Starlette, email: str, decision: str = "allow") -> None:
        self.http = httpx.AsyncClient(transport=HostRouter({"gw.test": gateway, "sim": sim}))
        self.email = email
        self.decision = decision
        self.visited: list[str] = []
        self.consent_pages: list[str] = []

    async def authorize(self, url: str) -> httpx.Response:
        """From the client's /authorize URL to the redirect back to the client (not followed)."""
        response = await self.http.get(url)
        for _ in range(12):
            self.visited.append(str(response.request.url))
            if response.is_redirect:
                location = str(response.next_request.url) if response.next_request else response.headers["location"]
                if location.startswith(CLIENT_REDIRECT):
                    return response
                response = await self.http.get(location)
                continue
            page = response.text
            url_now = response.request.url
            if url_now.host == "sim" and url_now.path == "/auth/authorize":
                form = hidden_fields(page)
                form.update({"decision": "accept", **self._user_choice(page)})
                response = await self.http.post("http://sim/auth/authorize", data=form)
            elif url_now.path == "/oauth/consent":
                self.consent_pages.append(page)
                form = {**hidden_fields(page), "decision": self.decision}
                response = await self.http.post(f"{GATEWAY}/oauth/consent", data=form)
            else:
                raise AssertionError(f"unexpected page {url_now}: {response.status_code} {page[:300]}")
        raise AssertionError(f"too many steps: {self.visited}")

    def _user_choice(self, page: str) -> dict[str, str]:
        """The simulator's sign-in form: the radio button labelled with our user's email."""
        account = re.search(rf'name="account_id"[^>]*value="([^"]+)"[^>]*>[^<]*{re.escape(self.email)}', page)
        assert account, f"{self.email} is not offered on the sign-in page"
        return {"account_id": html.unescape(account.group(1))}


class AsksUpFront(httpx2.AsyncBaseTransport):
    """The 401 challenges the client sees name `scope`: a client configured to ask for it at sign-in."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, scope: str) -> None:
        self._inner = inner
        self._scope = scope

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        challenge = response.headers.get("www-authenticate")
        if response.status_code == 401 and challenge:
            response.headers["www-authenticate"] = re.sub(r'scope="[^"]*"', f'scope="{self._scope}"', challenge)
        return response


@dataclass
class MemoryTokens:
    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Product:
    gateway_app: Starlette
    sim_app: Starlette
    storages: dict[str, MemoryTokens] = field(default_factory=dict)
    browser: Browser | None = None  # the last client's browser: the pages it went through

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.gateway_app.state.gateway
        return gateway

    @property
    def sim(self) -> Any:
        return self.sim_app.state.sim

    def raw(self) -> httpx.AsyncClient:
        """A plain HTTP client to the gateway, for what the SDK client hides (status codes, headers)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.gateway_app), base_url=GATEWAY)

    def token_of(self, email: str) -> str:
        tokens = self.storages[email].tokens
        assert tokens is not None, f"{email} has not signed in"
        return tokens.access_token

    async def sim_hook(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(self.sim_app), base_url="http://sim") as sim:
            response = await sim.request(method, path, json=body)
            assert response.status_code < 400, response.text
            return response.json() if response.content else None

    @contextlib.asynccontextmanager
    async def client(
        self,
        email: str,
        *,
        scope: str | None = None,
        mode: str = "legacy",
        decision: str = "allow",
        server_url: str = MCP_URL,
    ) -> AsyncIterator[Client]:
        """An MCP SDK client for `email` at `server_url` (an environment's MCP URL): discovers, registers, signs in
        through Atlassian, consents. Its tokens are kept per (email, server URL) in `storages`.

        Without `scope` the client asks for what the gateway's first 401 names (jira:issues:read) and steps up
        on a 403 insufficient_scope, as MCP clients do. With `scope` it stands for a client configured to ask
        for those scopes up front: the SDK client takes its scope from the 401 challenge, so the challenge it
        sees names `scope`.
        """
        browser = self.browser = Browser(self.gateway_app, self.sim_app, email, decision)
        redirect: dict[str, str] = {}

        async def on_redirect(url: str) -> None:
            answer = await browser.authorize(url)
            redirect.update({k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()})

        async def on_callback() -> AuthorizationCodeResult:
            if "code" not in redirect:
                raise RuntimeError(f"authorization failed: {redirect}")
            return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

        storage = self.storages.setdefault(email if server_url == MCP_URL else f"{email} {server_url}", MemoryTokens())
        auth = OAuthClientProvider(
            server_url=server_url,
            client_metadata=OAuthClientMetadata(
                redirect_uris=[CLIENT_REDIRECT],
                client_name="e2e client",
                scope=scope,
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=on_redirect,
            callback_handler=on_callback,
        )
        transport: httpx2.AsyncBaseTransport = httpx2.ASGITransport(app=self.gateway_app)
        if scope is not None:
            transport = AsksUpFront(transport, scope)
        http = httpx2.AsyncClient(transport=transport, auth=auth, timeout=30)
        async with http, Client(streamable_http_client(server_url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
            yield client


async def add_environment(
    product: Product, name: str, *, client_id: str, client_secret: str, site: str
) -> tuple[str, str]:
    """A second environment as an admin makes one: created, its own Atlassian app, a Jira connector for `site`.
    The running gateway picks it up as the admin API would make it (reloads); returns (its id, its MCP URL)."""
    from policyarc.services import create_environment, mcp_url

    gateway = product.gateway
    async with gateway.sessions.begin() as session:
        await create_environment(session, name, actor="e2e")
    environment_id = await connect_atlassian_jira(
        gateway, client_id=client_id, client_secret=client_secret, cloud_id=None, actor="e2e", site=site,
        environment_name=name,
    )  # fmt: skip
    await gateway.environments.reload()
    await gateway.connectors.reload()
    await gateway.policy_watcher.reload()
    return environment_id, mcp_url(gateway.settings.public_url, name)


@contextlib.asynccontextmanager
async def running_product(
    tmp_path: Path,
    database_url: str | None = None,
    sim_config: SimConfig | None = None,
    fast_path: bool = True,
    tracing: Tracing | None = None,
    **settings: Any,
) -> AsyncIterator[Product]:
    """`settings` override the gateway's (for instance `quota_user_per_second=0`)."""
    sim_app = create_sim_app(sim_config or SimConfig(rate_limits_enabled=False), seed=SIM_SEED)
    gateway_settings = load_settings(
        data_dir=tmp_path / "gw",
        database_url=database_url or "",
        public_url=GATEWAY,
        atlassian_auth_url="http://sim/auth",
        atlassian_api_url="http://sim/api",
        atlassian_site_url="http://sim/site/{site}",
        **settings,
    )
    app = create_app(gateway_settings, upstream=httpx.ASGITransport(sim_app), fast_path=fast_path, tracing=tracing)
    gateway: Gateway = app.state.gateway
    await connect_atlassian_jira(gateway, client_id=APP_ID, client_secret=APP_SECRET, cloud_id=None, actor="e2e")
    async with app.router.lifespan_context(app):
        yield Product(app, sim_app)
