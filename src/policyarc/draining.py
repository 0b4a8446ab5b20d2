"""Graceful shutdown: on SIGTERM stop taking calls, finish the ones in flight, flush the audit log, exit 0.

    SIGTERM ──▶ Drain.begin(): /readyz 503 (the load balancer takes us out), new /mcp requests 503 + Retry-After
            ──▶ the listener stays open while MCP requests are in flight (so late arrivals get that 503, which a
                load balancer or client retries elsewhere, rather than a refused connection), at most `timeout`
            ──▶ uvicorn's shutdown: listener closed, open connections finished
            ──▶ the lifespan's shutdown: the audit writer drains (app.py), every record of a finished call committed
            ──▶ exit status 0

uvicorn alone would close the listener at once and, after shutting down, re-raise SIGTERM on itself (exit status
143); `GracefulServer` adds the draining phase and ends normally instead, since a drained stop is a clean one.
A second SIGTERM or a SIGINT skips the wait. With `serve --workers N` uvicorn's supervisor runs plain workers:
each stops as uvicorn does (in-flight requests finished, lifespan drained), without the 503 phase.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Drain", "DrainGate", "GracefulServer"]

RETRY_AFTER = b"1"
DRAINING_BODY = (
    b'{"error":"temporarily_unavailable","error_description":"This gateway instance is shutting down; '
    b'retry the request (another instance will take it)."}'
)


class Drain:
    """Whether this instance is draining, and how many MCP requests it is still serving."""

    def __init__(self, *, timeout: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.in_flight = 0
        self._clock = clock
        self._since: float | None = None

    @property
    def draining(self) -> bool:
        return self._since is not None

    def begin(self) -> None:
        """Stop taking calls (idempotent: the first SIGTERM sets the clock)."""
        if self._since is None:
            self._since = self._clock()

    def done(self) -> bool:
        """Draining, and nothing left in flight or the drain timeout is spent."""
        if self._since is None:
            return False
        return self.in_flight == 0 or self._clock() - self._since >= self.timeout


class DrainGate:
    """Pure ASGI wrapper of /mcp: counts requests in flight; while draining, refuses new ones with 503."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drain = self._drain
        if drain.draining:
            # RFC 9110 section 15.6.4: 503 with Retry-After; nothing of the request has run.
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(DRAINING_BODY)).encode()),
                (b"retry-after", RETRY_AFTER),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": DRAINING_BODY})
            return
        drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            drain.in_flight -= 1


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a draining phase on SIGTERM and a clean exit after it."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self._drain = drain
        # uvicorn waits this long for open connections after closing the listener; the drain phase has used some.
        config.timeout_graceful_shutdown = max(1, int(drain.timeout))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._drain.draining:
            self._drain.begin()  # on_tick ends the main loop once drained
            return
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            self._captured_signals.remove(sig)  # drained: not re-raised on ourselves after shutdown

    async def on_tick(self, counter: int) -> bool:
        if self._drain.done():
            self.should_exit = True
        return await super().on_tick(counter)
