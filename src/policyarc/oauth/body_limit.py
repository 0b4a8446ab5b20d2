"""`BodyLimit`: refuse request bodies over a size with `413` and an OAuth-style JSON error, before any parsing.

The OAuth endpoints take small forms (RFC 6749 section 4.1.1, 4.1.3) and small JSON documents (RFC 7591), so
each gets a ceiling a real client never nears. Reading the body here, up to the ceiling and no further, means
the handlers and Starlette's form parser never see an over-size body; python-multipart's own limits (1 MiB per
part, 1,000 fields) are out of reach below a few dozen KiB, so an over-size form is a plain 413, not an
exception with a traceback in the log. It replaces the SDK's `RequestBodyLimitMiddleware`, which answers in
plain text.
"""

from __future__ import annotations

from collections import deque

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FORM_LIMIT", "REGISTRATION_LIMIT", "BodyLimit"]

FORM_LIMIT = 16 * 1024  # /authorize, /token, /revoke, the consent form: a few URLs and tokens
REGISTRATION_LIMIT = 64 * 1024  # /register: ten redirect URIs of 2,000 characters and the other fields


class BodyLimit:
    """Pure ASGI middleware: read the whole body (at most `max_bytes`), then hand it to `app` unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was complete: nobody is left to answer
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay: deque[Message] = deque([{"type": "http.request", "body": bytes(body), "more_body": False}])

        async def receive_replayed() -> Message:
            return replay.popleft() if replay else await receive()

        await self.app(scope, receive_replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "error": "invalid_request",
                "error_description": f"The request body is larger than {self.max_bytes} bytes, "
                "the most this endpoint accepts.",
            },
            status_code=413,
            headers={"Cache-Control": "no-store"},
        )
        await response(scope, receive, send)
