"""`POST /revoke` (RFC 7009), for every client the metadata advertises: public, client_secret_post and Basic.

The SDK's `RevocationHandler` validates the form with a model whose `client_id` and `client_secret` are required
fields, so a public client (`none`: every metadata-document client, most DCR clients) is refused with
"client_secret: Field required", and a Basic client must repeat its id in the body. Here the form needs only
`token` (section 2.1); who the client is comes from `HashedSecretAuthenticator`.

What is revoked is what the SDK revokes: the token, if it belongs to the authenticated client (the provider then
revokes its whole family). An unknown token, or another client's, gets the same 200 (section 2.2), so the answer
never tells tokens apart.
"""

from __future__ import annotations

from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import AccessToken, RefreshToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.oauth.client_auth import HashedSecretAuthenticator
from policyarc.oauth.provider import GatewayAuthProvider

__all__ = ["RevocationEndpoint"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_TOKEN = 512


class RevocationEndpoint:
    def __init__(self, provider: GatewayAuthProvider, authenticator: HashedSecretAuthenticator) -> None:
        self._provider = provider
        self._authenticator = authenticator

    async def handle(self, request: Request) -> Response:
        try:
            client = await self._authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            # RFC 7009 section 2.2.1 refers to RFC 6749 section 5.2: a failed client authentication is 401
            # invalid_client, with a Basic challenge when the client tried Basic.
            headers = dict(_NO_STORE)
            if request.headers.get("authorization", "")[:6].lower() == "basic ":
                headers["WWW-Authenticate"] = 'Basic realm="PolicyArc"'
            return _error(401, "invalid_client", exc.message, headers)
        form = await request.form()
        token = form.get("token")
        if not isinstance(token, str) or not token:
            return _error(400, "invalid_request", "token is required: the access or refresh token to revoke")
        if len(token) > _MAX_TOKEN:
            return Response(status_code=200, headers=_NO_STORE)  # no token of ours is this long
        found: AccessToken | RefreshToken | None
        # section 2.1: the hint only says where to look first; an unknown hint is ignored.
        if form.get("token_type_hint") == "refresh_token":
            found = await self._provider.load_refresh_token(client, token) or await self._provider.load_access_token(
                token
            )
        else:
            found = await self._provider.load_access_token(token) or await self._provider.load_refresh_token(
                client, token
            )
        if found is not None and found.client_id == client.client_id:
            await self._provider.revoke_token(found)
        return Response(status_code=200, headers=_NO_STORE)


def _error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": code, "error_description": description}, status_code=status, headers=headers or _NO_STORE
    )
