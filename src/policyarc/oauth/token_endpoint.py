"""`POST /token`: the SDK's `TokenHandler`, after an RFC 8707 check of `resource` that the SDK leaves out.

The SDK parses `resource` on the authorization_code and refresh_token grants but never looks at it, so a client
asking for a token for another resource got one for ours as if it had asked for nothing. Every code and refresh
token here is bound to the MCP endpoint of one of this gateway's environments (`GatewayAuthProvider.authorize`
refuses any other at /authorize), so a `resource` that names none of them can only be a mistake or an attempt to
use the token elsewhere: RFC 8707 section 2.2 answers it with `invalid_target`. A `resource` naming a known
environment passes; the token issued is still bound to the grant's own environment (a code's, or a refresh
token's: a refresh never moves a grant to another environment).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.environments import EnvironmentDirectory
from policyarc.oauth.config import OAuthConfig

__all__ = ["ResourceCheckedTokenHandler"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ResourceCheckedTokenHandler:
    def __init__(
        self,
        handler: Callable[[Request], Awaitable[Response]],
        config: OAuthConfig,
        environments: EnvironmentDirectory,
    ) -> None:
        self._handler = handler
        self._config = config
        self._environments = environments

    async def handle(self, request: Request) -> Response:
        form = await request.form()  # cached by Starlette: the SDK's handler reads the same parsed form
        # RFC 8707 section 2: `resource` may be repeated; each one must name one of this gateway's MCP endpoints. An
        # empty one counts as absent, as at /authorize.
        for resource in form.getlist("resource"):
            if resource != "" and not (isinstance(resource, str) and await self._known(resource)):
                return JSONResponse(
                    {
                        "error": "invalid_target",
                        "error_description": (
                            "this server has no MCP endpoint at that resource; send the MCP URL the token is for "
                            f"(the default one is {self._config.resource_url}), or leave resource out"
                        ),
                    },
                    status_code=400,
                    headers=_NO_STORE,
                )
        return await self._handler(request)

    async def _known(self, resource: str) -> bool:
        return self._config.is_resource(resource) or await self._environments.find_resource(resource) is not None
