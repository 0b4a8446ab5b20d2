"""Client authentication at /token and /revoke, with client secrets stored only as SHA-256 digests.

It keeps the rules of the SDK's `ClientAuthenticator` (a client authenticates the way it registered; a client
registered for a secret must present it; an expired secret is refused) and changes two things:

- the secret is checked against the stored digest (`GatewayAuthProvider.client_secret_hash`), so the plaintext
  exists only in the memory of the request that carried it;
- `client_secret_basic` follows RFC 6749 section 2.3.1: the client id is the Basic user name, both parts
  form-urlencoded, and `client_id` in the body is optional (when both are sent they must agree). The SDK's
  authenticator insists on `client_id` in the body, which Basic clients need not send.

`GatewayAuthProvider.get_client()` never returns a secret: wired to the SDK's stock authenticator by mistake, a
confidential client fails closed ("registered for secret-based authentication but has no stored secret").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote_plus

from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import OAuthAuthorizationServerProvider
from mcp.shared.auth import OAuthClientInformationFull
from starlette.requests import Request

from policyarc.secrets import hash_token

if TYPE_CHECKING:
    from policyarc.oauth.provider import GatewayAuthProvider

__all__ = ["HashedSecretAuthenticator", "basic_credentials"]

_MAX_SECRET = 512
_MAX_CLIENT_ID = 2048


class HashedSecretAuthenticator(ClientAuthenticator):
    def __init__(self, provider: GatewayAuthProvider) -> None:
        super().__init__(cast(OAuthAuthorizationServerProvider[Any, Any, Any], provider))
        self._gateway = provider

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        """The client this request authenticates as; `AuthenticationError` (-> 401 invalid_client) otherwise."""
        form = await request.form()  # Starlette caches the parsed form: the handler reads it again for free
        basic = basic_credentials(request.headers.get("authorization", ""))
        posted_id = _text(form.get("client_id"))
        if basic is not None and posted_id is not None and not hmac.compare_digest(basic[0], posted_id):
            raise AuthenticationError("client_id in the body differs from the user name of the Basic credentials")
        client_id = basic[0] if basic is not None else posted_id
        if not client_id:
            raise AuthenticationError(
                "Missing client_id: send it in the form body, or as the user name of HTTP Basic authentication"
            )
        client = await self._gateway.get_client(client_id) if len(client_id) <= _MAX_CLIENT_ID else None
        if client is None:
            raise AuthenticationError("Invalid client_id: this client is not registered here; register it again")

        method = client.token_endpoint_auth_method or "client_secret_post"
        if method == "none":
            return client  # a public client (RFC 6749 section 2.1): the client id is all it has
        if method == "client_secret_basic":
            if basic is None:
                raise AuthenticationError("This client registered client_secret_basic: send HTTP Basic credentials")
            presented: str | None = basic[1]
        elif method == "client_secret_post":
            presented = _text(form.get("client_secret"))
        else:
            raise AuthenticationError(f"Unsupported token_endpoint_auth_method: {method}")

        stored = await self._gateway.client_secret_hash(client.client_id)
        if stored is None:
            raise AuthenticationError("Client is registered for secret-based authentication but has no stored secret")
        if not presented or len(presented) > _MAX_SECRET:
            raise AuthenticationError("Client secret is required")
        if not hmac.compare_digest(hash_token(presented), stored):
            raise AuthenticationError("Invalid client_secret")
        if client.client_secret_expires_at and client.client_secret_expires_at < int(time.time()):
            raise AuthenticationError("Client secret has expired: register the client again")
        return client


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(client_id, secret) from `Authorization: Basic ...`, or None when the header is not Basic.

    RFC 6749 section 2.3.1: both are encoded with application/x-www-form-urlencoded before Basic, so `+` is a space
    and `%XX` an octet. A Basic header that does not decode is an authentication failure, not "no credentials".
    """
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("Invalid Basic authentication header: not base64 of client_id:secret") from exc
    user, sep, secret = decoded.partition(":")
    if not sep or not user:
        raise AuthenticationError("Invalid Basic authentication header: not base64 of client_id:secret")
    return unquote_plus(user), unquote_plus(secret)


def _text(value: object) -> str | None:
    # form.get() may also give an UploadFile; only a non-empty string counts.
    return value if isinstance(value, str) and value else None
