"""The MCP endpoint: tools/list by scope, and the tools/call pipeline (the hot path).

    gateway token -> Caller -> tool's scope in the token? (else HTTP 403 insufficient_scope) -> policy still
    allows? -> the caller's own upstream token from the vault -> (a write: its audit intent committed) ->
    upstream call -> compact result -> audit record committed (a write: its intent completed) -> response

`McpEndpoint` is the ASGI app mounted at /mcp: it authenticates the bearer token, answers the scope
challenge at the HTTP level (RFC 6750 section 3.1) where it can see the tool's name, and hands the request to
the SDK's stateless Streamable HTTP transport, which serves both the 2026-07-28 revision and handshake clients.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import mcp_types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from policyarc.caller import Caller
from policyarc.connectors.base import Connection, ToolFailure, ToolSpec
from policyarc.tool_faults import internal_failure

if TYPE_CHECKING:
    from policyarc.metrics import Metrics

logger = logging.getLogger(__name__)

CALLER_KEY = "policyarc.caller"
AUDIT_FAILED = (
    "The gateway could not record this call in its audit log, so its result is withheld. The call may have "
    "run in Jira: check there before retrying a change. Tell your PolicyArc admin."
)
INTENT_FAILED = (
    "The gateway could not record this change in its audit log, so it did not send it to Jira: nothing was "
    "changed. Try again in a moment; if it keeps failing, tell your PolicyArc admin."
)
MAX_BODY = 1_000_000


class CallerResolver(Protocol):
    async def resolve(self, token: str) -> Caller | None:
        """The caller behind a live gateway access token issued for this resource; None otherwise."""
        ...


class PolicyCheck(Protocol):
    def allowed(self, caller: Caller, scope: str) -> bool:
        """Does the environment's current policy still grant `scope` to this user on this client?"""
        ...


class UpstreamTokenSource(Protocol):
    async def access_token(self, caller: Caller) -> str:
        """The caller's valid Atlassian access token (refreshed if near expiry).

        Raises ToolFailure(code="reconnect_required") when the user must sign in again.
        """
        ...

    async def upstream_rejected(self, caller: Caller) -> str | None:
        """Upstream refused a token the vault believed valid: a newer token from the link to retry with, or None
        once the link is marked for reconnect."""
        ...


class ConnectorDirectory(Protocol):
    def connection_for(self, environment_id: str) -> Connection | None:
        """The environment's connector (connectors/directory.py keeps them in memory: no query per call)."""
        ...


@dataclass(frozen=True)
class AuditEntry:
    ts: float
    environment_id: str
    user_id: str
    client_id: str
    tool: str
    args_digest: str
    decision: str  # allowed | denied_scope | denied_policy | denied_quota | invalid_input | unknown_tool
    upstream_status: int | None
    latency_ms: float | None  # None for a write intent: the call has not ended
    error_code: str | None
    intent_id: int | None = None  # set: this entry completes the write intent with that record id


class QuotaRefusalLike(Protocol):
    def message(self) -> str: ...


class QuotaCheck(Protocol):
    """quota.Quota: the gateway's rate limits before a call goes upstream, and upstream's 429 pauses."""

    async def admit(self, caller: Caller, tenant: str) -> QuotaRefusalLike | None: ...

    async def pause(self, tenant: str, seconds: float) -> None: ...


class FastPathLike(Protocol):
    """mcp_fastpath.FastPath: answers hot requests without the SDK's per-request machinery."""

    async def eligible(self, scope: Scope) -> bool: ...

    async def answer(self, caller: Caller, message: dict[str, Any] | None) -> bytes | None: ...


class AuditSink(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Returns once the entry is committed (group commit: concurrent calls share one transaction).

        An entry with `intent_id` completes that write intent in place rather than adding a record.
        """
        ...

    async def record_intent(self, entry: AuditEntry) -> int:
        """Commits a write about to be sent upstream as pending; returns its record id, for the completion."""
        ...


class ToolPipeline:
    """Runs tools/list and tools/call for a caller. Built once; holds no per-request state."""

    def __init__(
        self,
        *,
        tools: Sequence[ToolSpec[Any]],
        policy: PolicyCheck,
        connectors: ConnectorDirectory,
        vault: UpstreamTokenSource,
        audit: AuditSink,
        metrics: Metrics | None = None,
        quota: QuotaCheck | None = None,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self.metrics = metrics
        self._quota = quota
        self._policy = policy
        self._connectors = connectors
        self._vault = vault
        self._audit = audit
        self._listing = {
            tool.name: types.Tool(
                name=tool.name,
                title=tool.title,
                description=tool.description,
                input_schema=tool.input_schema,
                output_schema=tool.output_schema,
                annotations=types.ToolAnnotations(
                    read_only_hint=tool.hints.read_only,
                    destructive_hint=tool.hints.destructive,
                    idempotent_hint=tool.hints.idempotent,
                    open_world_hint=tool.hints.open_world,
                ),
            )
            for tool in tools
        }
        self._scopes = tuple(dict.fromkeys(tool.scope for tool in tools))
        self._listings: dict[frozenset[str], tuple[types.Tool, ...]] = {}

    def scope_of(self, tool_name: str) -> str | None:
        tool = self._tools.get(tool_name)
        return tool.scope if tool else None

    def granted_scopes(self, caller: Caller) -> frozenset[str]:
        """The tool scopes the environment's current policy grants this user on this client, in the token or not."""
        return frozenset([scope for scope in self._scopes if self._policy.allowed(caller, scope)])

    def listing(self, granted: frozenset[str]) -> tuple[types.Tool, ...]:
        """The tools that `granted` scopes show, built once per distinct set (at most 2^scopes of them)."""
        listing = self._listings.get(granted)
        if listing is None:
            listing = tuple(self._listing[name] for name, tool in self._tools.items() if tool.scope in granted)
            self._listings[granted] = listing
        return listing

    def list_tools(self, caller: Caller) -> list[types.Tool]:
        """Every tool policy grants, whether or not the token carries its scope: a client sees the write tools
        and, calling one, gets the HTTP 403 insufficient_scope that lets it step up (MCP authorization, scope
        challenge handling). A tool policy does not grant stays hidden: no step-up would get it."""
        return list(self.listing(self.granted_scopes(caller)))

    async def call(self, caller: Caller, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        started = time.perf_counter()
        arguments = arguments or {}
        upstream_status: int | None = None
        intent_id: int | None = None
        decision = "allowed"
        try:
            tool = self._tools.get(name)
            if tool is None:
                decision = "unknown_tool"
                raise ToolFailure("unknown_tool", f"There is no tool named '{name}'. Call tools/list to see yours.")
            if tool.scope not in caller.scopes:
                decision = "denied_scope"
                raise ToolFailure(
                    "insufficient_scope",
                    f"'{name}' needs the scope {tool.scope}, which your sign-in did not grant. Ask your "
                    "PolicyArc admin for it, then sign in again so your client requests it.",
                )
            if not self._policy.allowed(caller, tool.scope):
                decision = "denied_policy"
                raise ToolFailure(
                    "denied_by_policy",
                    f"Policy no longer grants {tool.scope} to you on this client, so '{name}' is not allowed. "
                    "Ask your PolicyArc admin.",
                )
            try:
                args = tool.input_model.model_validate(arguments)
            except ValidationError as exc:
                decision = "invalid_input"
                raise ToolFailure("invalid_arguments", _describe_validation(name, exc)) from exc
            connection = self._connectors.connection_for(caller.environment_id)
            if connection is None:
                raise ToolFailure("no_connector", "No connector is set up in this environment yet.")
            if self._quota is not None and (refusal := await self._quota.admit(caller, connection.tenant)):
                decision = "denied_quota"  # nothing was sent upstream
                raise ToolFailure("rate_limited", refusal.message())
            token = await self._vault.access_token(caller)
            if not tool.hints.read_only:
                intent_id = await self._record_intent(caller, name, arguments)
            try:
                result = await self._send(caller, tool, connection, token, args)
            except Exception as exc:
                failure = connection.failure(name, exc)
                if failure is None:
                    raise
                upstream_status = failure.upstream_status
                if failure.pause_for and self._quota is not None:
                    await self._quota.pause(connection.tenant, failure.pause_for)  # on every instance (quota.py)
                raise failure from exc
            upstream_status = upstream_status or 200
            text = tool.text(result) if tool.text else orjson.dumps(result).decode()
            outcome = types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result)
            error_code = None
        except Exception as exc:
            # Anything else is a bug or an input no check foresaw: a tool error with a stable code and its audit
            # record, never an HTTP 500; the log gets a traceback without the arguments (tool_faults.py).
            failure = exc if isinstance(exc, ToolFailure) else internal_failure(name, caller.user_id, exc)
            outcome = types.CallToolResult(content=[types.TextContent(text=failure.message)], is_error=True)
            error_code = failure.code
            upstream_status = upstream_status or failure.upstream_status
        entry = AuditEntry(
            ts=time.time(),
            environment_id=caller.environment_id,
            user_id=caller.user_id,
            client_id=caller.client_id,
            tool=name,
            args_digest=_digest(arguments),
            decision=decision,
            upstream_status=upstream_status,
            latency_ms=(time.perf_counter() - started) * 1000,
            error_code=error_code,
            intent_id=intent_id,
        )
        if self.metrics is not None:
            self.metrics.call_done(name, error_code)
        try:
            await self._audit.record(entry)
        except Exception:
            # A result is never returned without its audit record (the brief); the call itself may have run.
            logger.exception("audit record of %s for user %s could not be written", name, caller.user_id)
            if error_code == "audit_unavailable":
                return outcome  # its message is the truer one: the write was never sent
            return types.CallToolResult(content=[types.TextContent(text=AUDIT_FAILED)], is_error=True)
        return outcome

    async def _send(self, caller: Caller, tool: ToolSpec[Any], connection: Connection, token: str, args: Any) -> Any:
        """The handler; sent once more when upstream refused a token the link has replaced since (vault.py)."""
        try:
            return await tool.handler(connection.context(token, caller.account_id), args)
        except Exception as exc:
            if not connection.refused_token(exc):
                raise
            newer = await self._vault.upstream_rejected(caller)
            if newer is None:
                raise  # the link is marked for reconnect: the connection's failure says to sign in again
        # A refused token means upstream ran nothing, so sending the call again is safe, writes included. Only
        # once: a second refusal is the row's own token being refused.
        try:
            return await tool.handler(connection.context(newer, caller.account_id), args)
        except Exception as exc:
            if connection.refused_token(exc):
                await self._vault.upstream_rejected(caller)
            raise

    async def _record_intent(self, caller: Caller, name: str, arguments: dict[str, Any]) -> int:
        """Commit the write as pending before anything is sent to Jira, so that a gateway killed between the send
        and the audit commit still leaves a record of a write that may have reached Jira (`policyarc.audit`)."""
        entry = AuditEntry(
            ts=time.time(),
            environment_id=caller.environment_id,
            user_id=caller.user_id,
            client_id=caller.client_id,
            tool=name,
            args_digest=_digest(arguments),
            decision="allowed",
            upstream_status=None,
            latency_ms=None,
            error_code=None,
        )
        try:
            return await self._audit.record_intent(entry)
        except Exception as exc:
            logger.exception("audit intent of %s for user %s could not be written", name, caller.user_id)
            raise ToolFailure("audit_unavailable", INTENT_FAILED) from exc


def _describe_validation(tool: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    return f"Invalid arguments for {tool}: " + "; ".join(problems)


def _digest(arguments: dict[str, Any]) -> str:
    """A digest, not the arguments: audit shows that two calls were the same without storing their content."""
    try:
        encoded = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer past 64 bits (the SDK's JSON parser keeps them): the slower encoder takes it
        encoded = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=repr).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def build_mcp_server(pipeline: ToolPipeline, *, version: str) -> Server[Any]:
    """The SDK's low-level server with our two handlers; the caller comes from the ASGI scope."""

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=pipeline.list_tools(_caller(ctx)))

    async def on_call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        return await pipeline.call(_caller(ctx), params.name, params.arguments)

    return Server(
        "policyarc",
        version=version,
        instructions="Jira tools that act as you, under your organisation's PolicyArc policy.",
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _caller(ctx: ServerRequestContext[Any]) -> Caller:
    request = ctx.request
    caller = request.scope.get(CALLER_KEY) if request is not None else None
    if not isinstance(caller, Caller):
        raise RuntimeError("tools served without an authenticated caller")  # McpEndpoint always sets it
    return caller


class McpEndpoint:
    """Pure ASGI app for /mcp: bearer authentication and the scope challenge, then the SDK transport."""

    def __init__(
        self,
        *,
        session_manager: StreamableHTTPSessionManager,
        resolver: CallerResolver,
        pipeline: ToolPipeline,
        resource_metadata_url: str,
        default_scopes: Sequence[str],
        fast_path: FastPathLike | None = None,
    ) -> None:
        self._fast_path = fast_path
        self._manager = session_manager
        self._resolver = resolver
        self._pipeline = pipeline
        self._metadata_url = resource_metadata_url
        # MCP authorization (2025-11-25), scope selection strategy: a client asks for the scope of the first 401
        # (RFC 6750 section 3), so it starts with least privilege and steps up on a 403 insufficient_scope.
        challenge = f'Bearer resource_metadata="{resource_metadata_url}", scope="{" ".join(default_scopes)}"'
        self._challenges = {False: challenge, True: challenge + ', error="invalid_token"'}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _bearer(scope)
        caller = await self._resolver.resolve(token) if token else None
        if caller is None:
            await _send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": "Sign in to PolicyArc to use this MCP server."},
                self._challenges[token is not None],
            )
            return
        scope[CALLER_KEY] = caller
        if scope["method"] != "POST":
            await self._manager.handle_request(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await _send_json(send, 413, {"error": "request_too_large", "error_description": "Body over 1 MB."}, None)
            return
        message = _json_object(body)  # parsed once: the scope challenge and the fast path both read it
        tool_name = _tool_name(scope, message)
        required = self._pipeline.scope_of(tool_name) if tool_name else None
        if required is not None and required not in caller.scopes:
            if self._pipeline.metrics is not None and tool_name is not None:
                self._pipeline.metrics.call_done(tool_name, "insufficient_scope")
            # RFC 6750 section 3.1 and MCP's scope challenge: name the scope so the client can step up.
            await _send_json(
                send,
                403,
                {"error": "insufficient_scope", "error_description": f"'{tool_name}' needs the scope {required}"},
                f'Bearer error="insufficient_scope", scope="{" ".join(sorted(caller.scopes | {required}))}", '
                f'resource_metadata="{self._metadata_url}", error_description="{tool_name} needs {required}"',
            )
            return
        if self._fast_path is not None and await self._fast_path.eligible(scope):
            answer = await self._fast_path.answer(caller, message)
            if answer is not None:
                await _send_bytes(send, 200, answer)
                return
        await self._manager.handle_request(scope, _replay(body, receive), send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
            return None
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None for anything else (the SDK answers malformed JSON-RPC itself)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def _tool_name(scope: Scope, message: dict[str, Any] | None) -> str | None:
    """The tool a tools/call names: the Mcp-Name header (2026-07-28) or, for older clients, the JSON body."""
    method: str | None = None
    name: str | None = None
    for header, value in scope["headers"]:
        if header == b"mcp-method":
            method = value.decode("latin-1")
        elif header == b"mcp-name":
            name = value.decode("latin-1")
    if method == "tools/call" and name:
        return name
    if message is not None and message.get("method") == "tools/call":
        params = message.get("params")
        if isinstance(params, dict) and isinstance(params.get("name"), str):
            return str(params["name"])
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it is larger than MAX_BODY (answered 413)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body on once, then the real channel (which reports a genuine disconnect)."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_bytes(send: Send, status: int, payload: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _send_json(send: Send, status: int, body: dict[str, str], www_authenticate: str | None) -> None:
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if www_authenticate:
        headers.append((b"www-authenticate", www_authenticate.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
