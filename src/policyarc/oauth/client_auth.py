"""Client authentication at /token and /revoke with client secrets stored only as SHA-256 digests.

The SDK's `ClientAuthenticator` compares the request's secret with `client.client_secret` from
`provider.get_client()`, so it needs the plaintext. We keep the SDK's checks (which method the client registered,
Basic header parsing, expiry) and feed it, per request, a view of the client whose `client_secret` is the secret
this request presented, and only when its digest matches the stored one; otherwise a fresh random value nobody
knows, so the SDK refuses. The plaintext exists only in the memory of the request that carried it.

`GatewayAuthProvider.get_client()` itself never returns a secret: wired to the SDK's stock authenticator by
mistake, a confidential client fails closed ("registered for secret-based authentication but has no stored
secret") rather than open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from mcp.server.auth.middleware.client_auth import ClientAuthenticator
from mcp.server.auth.provider import OAuthAuthorizationServerProvider
from mcp.shared.auth import OAuthClientInformationFull
from starlette.requests import Request

from policyarc.secrets import hash_token

if TYPE_CHECKING:
    from policyarc.oauth.provider import GatewayAuthProvider

__all__ = ["HashedSecretAuthenticator"]

_MAX_SECRET = 512


class HashedSecretAuthenticator(ClientAuthenticator):
    def __init__(self, provider: GatewayAuthProvider) -> None:
        super().__init__(cast(OAuthAuthorizationServerProvider[Any, Any, Any], provider))
        self._gateway = provider

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()  # Starlette caches the parsed form: the handler reads it again for free
        posted = form.get("client_secret")
        presented = _presented_secrets(
            request.headers.get("authorization", ""), posted if isinstance(posted, str) else None
        )
        view = _VerifiedSecretView(self._gateway, presented)
        return await ClientAuthenticator(
            cast(OAuthAuthorizationServerProvider[Any, Any, Any], view)
        ).authenticate_request(request)


class _VerifiedSecretView:
    """Just enough of a provider for the SDK's authenticator: `get_client` with the verified secret filled in."""

    def __init__(self, provider: GatewayAuthProvider, presented: list[str]) -> None:
        self._provider = provider
        self._presented = presented

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        client = await self._provider.get_client(client_id)
        if client is None:
            return None
        stored = await self._provider.client_secret_hash(client_id)
        if stored is None:
            return client
        matched = next((s for s in self._presented if hmac.compare_digest(hash_token(s), stored)), None)
        return client.model_copy(update={"client_secret": matched or secrets.token_urlsafe(32)})


def _presented_secrets(authorization: str, posted: str | None) -> list[str]:
    """Every secret the request carries (Basic header, form body); the SDK then insists on the registered one."""
    found: list[str] = []
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        _, sep, secret = decoded.partition(":")
        if sep:
            found.append(unquote(secret))
    if posted:
        found.append(posted)
    return [s for s in found if 0 < len(s) <= _MAX_SECRET]
