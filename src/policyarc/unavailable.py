"""`DatabaseOutageMiddleware`: while the database is unreachable, every route answers 503 with Retry-After.

Without it, a request whose database read fails reaches Starlette's last resort: a plain-text 500, a traceback
in the log for every request, and for a client on a kept-alive connection a cut one. A lost database is an
outage to wait out, not a bug: the answer says so (RFC 9110 section 15.6.4, `Retry-After` per section 10.2.3),
the log says so in one line, and the next request after the database is back succeeds (the engine reconnects
by itself). Other exceptions pass through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyarc.store.outage import RETRY_AFTER, describe_outage, is_database_unreachable

__all__ = ["DatabaseOutageMiddleware"]

logger = logging.getLogger(__name__)


class DatabaseOutageMiddleware:
    """Pure ASGI middleware; `clock` (monotonic seconds) paces the log: one line when an outage is first seen,
    then at most one every `log_every` seconds counting the requests answered 503 meanwhile."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        retry_after: int = RETRY_AFTER,
        log_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._clock = clock
        self._log_every = log_every
        self._logged_at: float | None = None
        self._unlogged = 0
        body = orjson.dumps(
            {
                "error": "temporarily_unavailable",
                "error_description": f"PolicyArc cannot reach its database right now. Retry in {retry_after} s; "
                "if this goes on, tell your PolicyArc admin.",
            }
        )
        self._start: Message = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
        self._body: Message = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started or not is_database_unreachable(exc):
                raise
            self._note(exc)
            await send(self._start)
            await send(self._body)

    def _note(self, exc: BaseException) -> None:
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self._log_every:
            self._unlogged += 1
            return
        if self._logged_at is None or self._unlogged == 0:
            logger.warning("database unreachable (%s): answering 503 until it is back", describe_outage(exc))
        else:
            logger.warning(
                "database still unreachable (%s): %d more requests answered 503", describe_outage(exc), self._unlogged
            )
        self._logged_at = now
        self._unlogged = 0
