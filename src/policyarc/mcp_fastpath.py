"""A direct answer to the two hot JSON-RPC requests of stateless handshake-era clients.

Why: in the SDK's stateless Streamable HTTP transport every request builds a transport, a session, memory
streams and a task group; on this machine that alone cost 3.4-4.8 ms of CPU per tools/call (docs/benchmarks.md),
more than the gateway's whole budget. `tools/call` and `tools/list` from a 2025-era client need none of it: one
JSON-RPC request in, one JSON response out. This module answers exactly those, with the same checks the SDK's
transport makes first (content type, Accept; Host and Origin are checked in front of both, host_guard.py) and
the same wire form (the tests compare both paths byte for byte after parsing). Anything else (initialize,
notifications, batches, the 2026-07-28 revision, sessions, GET streams, malformed messages) goes to the SDK
unchanged.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import Scope

from policyarc.caller import Caller
from policyarc.mcp_endpoint import ToolPipeline

HOT_METHODS = frozenset({"tools/call", "tools/list"})


class FastPath:
    def __init__(self, pipeline: ToolPipeline, security: TransportSecuritySettings) -> None:
        self._pipeline = pipeline
        self._security = TransportSecurityMiddleware(security)
        # tools/list is the same bytes for every caller granted the same scopes: serialised once per set.
        self._listings: dict[frozenset[str], orjson.Fragment] = {}

    async def eligible(self, scope: Scope) -> bool:
        """A stateless POST from a handshake-era client that the SDK's transport would accept as it is."""
        version = session = None
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"mcp-protocol-version":
                version = value.decode("latin-1")
            elif name == b"mcp-session-id":
                session = value
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if version not in HANDSHAKE_PROTOCOL_VERSIONS or session is not None:
            return False
        if content_type.split(";")[0].strip().lower() != "application/json":
            return False
        request = Request(scope)
        has_json, _ = check_accept_headers(request)
        return has_json and await self._security.validate_request(request, is_post=True) is None

    async def answer(self, caller: Caller, message: dict[str, Any] | None) -> bytes | None:
        """The JSON-RPC response for a hot request (the body, parsed), or None to let the SDK handle it."""
        if message is None or message.get("jsonrpc") != "2.0":
            return None
        method, ident, params = message.get("method"), message.get("id"), message.get("params")
        if method not in HOT_METHODS or isinstance(ident, bool) or not isinstance(ident, str | int):
            return None
        if params is not None and not isinstance(params, dict):
            return None
        result: dict[str, Any]
        if method == "tools/list":
            result = {"tools": self._tools_json(caller)}
        else:
            name = params.get("name") if params else None
            arguments = params.get("arguments") if params else None
            if not isinstance(name, str) or not (arguments is None or isinstance(arguments, dict)):
                return None
            result = self._dump(await self._pipeline.call(caller, name, arguments))
        return orjson.dumps({"jsonrpc": "2.0", "id": ident, "result": result})

    def _tools_json(self, caller: Caller) -> orjson.Fragment:
        granted = self._pipeline.granted_scopes(caller)
        listing = self._listings.get(granted)
        if listing is None:
            listing = orjson.Fragment(orjson.dumps([self._dump(tool) for tool in self._pipeline.listing(granted)]))
            self._listings[granted] = listing
        return listing

    @staticmethod
    def _dump(model: types.Tool | types.CallToolResult) -> dict[str, Any]:
        dumped = model.model_dump(by_alias=True, mode="json", exclude_none=True)
        dumped.pop("resultType", None)  # 2026-07-28 vocabulary; handshake-era clients never see it
        return dumped
