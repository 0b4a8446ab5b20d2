"""`/mcp/{name}`: the MCP endpoint of every environment but the default one (which keeps `/mcp`).

One `McpEndpoint` per environment, built the first time the environment is called and kept: it is a handful of
references (the shared pipeline, session manager and fast path, the environment's view of the token resolver, its
resource metadata URL), so an environment created at run time costs no app rebuild. The environment is found in
the in-memory `EnvironmentDirectory`; a name it does not know is 404, before any token is looked at.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from policyarc.environments import EnvironmentDirectory, ServedEnvironment

__all__ = ["EnvironmentEndpoints"]

_MAX_NAME = 64


class EnvironmentEndpoints:
    """Pure ASGI app for the route `/mcp/{name}`."""

    def __init__(self, environments: EnvironmentDirectory, build: Callable[[ServedEnvironment], ASGIApp]) -> None:
        self._environments = environments
        self._build = build
        self._built: dict[ServedEnvironment, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = str(scope.get("path_params", {}).get("name", ""))
        environment = await self._environments.find_name(name) if len(name) <= _MAX_NAME else None
        if environment is None or environment.is_default:  # the default environment is served at /mcp only
            await _not_found(send)
            return
        endpoint = self._built.get(environment)
        if endpoint is None:
            # Keyed by the whole record: an environment deleted and created again under its name gets a new id,
            # so a new endpoint (its old tokens went with the old environment).
            endpoint = self._built[environment] = self._build(environment)
        await endpoint(scope, receive, send)


async def _not_found(send: Send) -> None:
    payload = orjson.dumps(
        {"error": "not_found", "error_description": "This gateway has no MCP endpoint here. Check the MCP URL."}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
