"""`POST /token`: the SDK's `TokenHandler`, after an RFC 8707 check of `resource` that the SDK leaves out.

The SDK parses `resource` on the authorization_code and refresh_token grants but never looks at it, so a client
asking for a token for another resource got one for ours as if it had asked for nothing. Every code and refresh
token here is bound to this gateway's MCP endpoint (`GatewayAuthProvider.authorize` refuses any other at
/authorize), so a `resource` that is not that endpoint can only be a mistake or an attempt to use the token
elsewhere: RFC 8707 section 2.2 answers it with `invalid_target`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.oauth.config import OAuthConfig

__all__ = ["ResourceCheckedTokenHandler"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ResourceCheckedTokenHandler:
    def __init__(self, handler: Callable[[Request], Awaitable[Response]], config: OAuthConfig) -> None:
        self._handler = handler
        self._config = config

    async def handle(self, request: Request) -> Response:
        form = await request.form()  # cached by Starlette: the SDK's handler reads the same parsed form
        # RFC 8707 section 2: `resource` may be repeated; each one must name this gateway's MCP endpoint. An empty
        # one counts as absent, as at /authorize.
        for resource in form.getlist("resource"):
            if resource != "" and not (isinstance(resource, str) and self._config.is_resource(resource)):
                return JSONResponse(
                    {
                        "error": "invalid_target",
                        "error_description": (
                            f"this server issues tokens for {self._config.resource_url} only; "
                            "send that as resource, or leave resource out"
                        ),
                    },
                    status_code=400,
                    headers=_NO_STORE,
                )
        return await self._handler(request)
