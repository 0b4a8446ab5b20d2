"""`/authorize`: the SDK's handler, with the pending request it stores bound to the browser that opened it.

The pending request's id travels in our URLs (`/oauth/login?request=...`, `/oauth/consent?request=...`). Without a
binding, whoever gets such a URL (an attacker who started the request with their own client and sends the link to
a signed-in victim, or a link leaked from logs or history) can open it in another browser and be shown, or
approve, the consent form there. So /authorize sets a random `__Host-policyarc_authorize` cookie (plain name on
a loopback http gateway, as sessions.py explains), the request stores its SHA-256, and sign-in and consent refuse
a browser without it (`pending.same_browser`).

One cookie per browser, reused while it lasts, so two MCP clients connecting from the same browser at once do
not overwrite each other's binding.

The SDK's `AuthorizationHandler` calls `provider.authorize(client, params)` with no access to the request, so it
is given, per request, a view of the provider that adds the cookie's hash (the same device client_auth.py used).

A database outage must not become the SDK's catch-all 500 with a logged traceback: the client is loaded before the
SDK runs, so an unreachable database surfaces as the app's 503 (unavailable.py), and a failure to store the
pending request goes back to the client as RFC 6749's `temporarily_unavailable`.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.provider import AuthorizationParams, AuthorizeError, OAuthAuthorizationServerProvider
from mcp.shared.auth import OAuthClientInformationFull
from starlette.requests import Request
from starlette.responses import Response

from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.oauth.sessions import AUTHORIZE_COOKIE, CookieJar
from policyarc.secrets import hash_token, new_token
from policyarc.store.outage import describe_outage, is_database_unreachable

__all__ = ["BrowserBoundAuthorization"]

_PREFIX = "pa_ab_"
logger = logging.getLogger(__name__)


class BrowserBoundAuthorization:
    def __init__(self, provider: GatewayAuthProvider, cookies: CookieJar) -> None:
        self._provider = provider
        self._cookies = cookies

    async def handle(self, request: Request) -> Response:
        nonce = self._cookies.read(request, AUTHORIZE_COOKIE)
        if nonce is None or not nonce.startswith(_PREFIX):
            nonce = new_token(_PREFIX)
        view = _BindingView(self._provider, hash_token(nonce))
        client_id = request.query_params.get("client_id")
        if request.method == "POST":
            client_id = str((await request.form()).get("client_id") or "") or None  # parsed once, by bounds.py
        if client_id and len(client_id) <= 2048:
            await view.preload(client_id)  # an unreachable database raises here: a 503, not the SDK's 500
        response = await AuthorizationHandler(cast(OAuthAuthorizationServerProvider[Any, Any, Any], view)).handle(
            request
        )
        if view.stored:  # only a request that went on to sign-in needs the cookie; errors go back to the client
            self._cookies.set(response, AUTHORIZE_COOKIE, nonce, max_age=self._provider.config.pending_ttl)
        return response


class _BindingView:
    """Just enough of a provider for the SDK's handler: `authorize` with this browser's cookie hash filled in."""

    def __init__(self, provider: GatewayAuthProvider, browser_hash: str) -> None:
        self._provider = provider
        self._browser_hash = browser_hash
        self._loaded: tuple[str, OAuthClientInformationFull | None] | None = None
        self.stored = False

    async def preload(self, client_id: str) -> None:
        self._loaded = (client_id, await self._provider.get_client(client_id))

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if self._loaded is not None and self._loaded[0] == client_id:
            return self._loaded[1]
        return await self._provider.get_client(client_id)

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        try:
            location = await self._provider.authorize(client, params, browser_hash=self._browser_hash)
        except Exception as exc:
            if not is_database_unreachable(exc):
                raise
            logger.warning("authorization request not stored: %s", describe_outage(exc))
            raise AuthorizeError(
                error="temporarily_unavailable",
                error_description="PolicyArc cannot reach its database right now; try again in a moment.",
            ) from exc
        self.stored = True
        return location
