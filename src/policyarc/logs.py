"""The gateway's logs: human text (the default, for the demo) or one JSON object per line
(`POLICYARC_LOG_FORMAT=json`), each line with the id of the HTTP request it belongs to, and never a token.

    configure_logging(level="info", fmt="json")     # policyarc serve, once, before the app starts
    app = RequestIdMiddleware(app)                  # create_app: a request id per HTTP request

The request id comes from the client's `X-Request-Id` when it is made of safe characters (a load balancer or
the MCP client can then follow one call across systems), else a fresh one; it is echoed in the response's
`X-Request-Id` and put on every log line written while the request runs (a context variable, so tasks the
request starts inherit it). Pure ASGI middleware: BaseHTTPMiddleware would break streaming and context vars.

Redaction is the last line of defence, not the policy: code never logs a token on purpose. Whatever a line says,
anything shaped like a gateway token, a bearer credential or a client secret is replaced before it is written,
in both formats, exception text included.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LogFormat",
    "RedactingFormatter",
    "RequestIdMiddleware",
    "configure_logging",
    "redact",
    "request_id",
]

LogFormat = Literal["text", "json"]
REQUEST_ID_HEADER = b"x-request-id"
# What we accept from a client as a request id: short, and nothing that could forge a log field or a header.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
REDACTED = "[redacted]"
_SECRETS = re.compile(
    r"pa_(?:at|rt|admin|code)_[A-Za-z0-9_\-]+"  # gateway tokens, admin keys, authorization codes
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+"  # RFC 6750 credentials, Atlassian's included
    r"|(?i:(?:client_secret|refresh_token|access_token|code_verifier|password)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+"
)
# The LogRecord attributes every record has: anything else was passed in `extra` and goes into the JSON object.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

request_id: ContextVar[str | None] = ContextVar("policyarc_request_id", default=None)


def redact(text: str) -> str:
    """`text` with every token-like part replaced (the name of a `name=value` pair stays, to say what it was)."""
    return _SECRETS.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    found = match.group(0)
    if found.startswith("pa_"):
        return found[: found.index("_", 3) + 1] + REDACTED  # pa_at_[redacted]: which kind, not which one
    if found[:6].lower() == "bearer":
        return "Bearer " + REDACTED
    name = re.match(r"[\w]+[\"']?\s*[=:]\s*[\"']?", found)
    return (name.group(0) if name else "") + REDACTED


class RedactingFormatter(logging.Formatter):
    """The standard text format, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, the record's `extra` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_") and key != "color_message":
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        # Redacted field by field, before encoding: a pattern run over JSON text would meet escaped quotes.
        return orjson.dumps(entry, default=lambda value: redact(str(value))).decode()


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    """One stderr handler on the root logger (replacing any), uvicorn's loggers sent through it too."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True


def uvicorn_log_config() -> dict[str, Any]:
    """For uvicorn's `log_config`: leave logging as `configure_logging` set it (uvicorn's own config would add
    handlers in its own format)."""
    return {"version": 1, "disable_existing_loggers": False}


class RequestIdMiddleware:
    """Pure ASGI: a request id per HTTP request, in the context of its logs and in the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                given = value
                break
        # 128 random bits as 32 hex digits, like a uuid4's hex without its formatting cost (~2 us a request).
        rid = given if given is not None and _SAFE_ID.fullmatch(given) else os.urandom(16).hex().encode()
        token = request_id.set(rid.decode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid)]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
