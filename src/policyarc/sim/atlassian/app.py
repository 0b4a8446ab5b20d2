"""The Atlassian Cloud simulator as one ASGI app: auth.atlassian.com, api.atlassian.com and `{site}.atlassian.net`
under one host (see the design brief, section 4).

Request flow: Starlette's error guard -> edge -> request log -> faults -> rate limits -> routes. The edge
(edge.py) compresses and labels every answer as Atlassian's does, faults and 429s included. The log sits
outside the faults so an injected fault is still recorded; the rate limiter sits inside so a faulted
request spends no rate-limit token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from policyarc.sim.atlassian.edge import EdgeMiddleware
from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.hooks import (
    ConnectionDropped,
    FaultMiddleware,
    FaultRules,
    RequestLog,
    RequestLogMiddleware,
    SimHooks,
    hook_routes,
)
from policyarc.sim.atlassian.jira import jira_routes
from policyarc.sim.atlassian.jira_v2 import v2_routes
from policyarc.sim.atlassian.model import World
from policyarc.sim.atlassian.oauth import TokenStore, oauth_routes
from policyarc.sim.atlassian.ratelimit import RateLimiter, RateLimitMiddleware
from policyarc.sim.atlassian.seed import build_world
from policyarc.sim.atlassian.site import site_routes
from policyarc.sim.atlassian.state import Clock, SimConfig, SimState

logger = logging.getLogger("policyarc.sim")


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods, in Jira's error shape rather than Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        # Jira's wording for a URL no resource answers.
        return jira_error(404, [f"null for uri: {request.url}"])
    detail = exc.detail if isinstance(exc, HTTPException) else "Error"
    return jira_error(status, [detail], headers=getattr(exc, "headers", None))


async def _server_error(request: Request, exc: Exception) -> Response:
    """Any unexpected exception: a JSON 500, never an HTML traceback. Apart from a `drop` fault it is a bug."""
    if not isinstance(exc, ConnectionDropped):
        logger.error("simulator bug on %s %s", request.method, request.url.path, exc_info=exc)
    return jira_error(500, [f"Internal server error in the simulator ({type(exc).__name__})."])


def create_sim_app(
    config: SimConfig | None = None,
    world: World | None = None,
    *,
    seed: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The simulator app, its `SimState` on `app.state.sim` and its test hooks on `app.state.hooks`.

    `world` defaults to `build_world(seed)`. `/_sim/reset` always rebuilds `build_world(seed)`, also when a
    `world` was passed in (copying it up front for a reset that rarely comes would slow every test).
    `clock` lets a test pass a clock of its own (one that stands still, say).
    """
    config = config or SimConfig()
    clock = clock or Clock()
    world = world if world is not None else build_world(seed)
    sim = SimState(config=config, world=world, tokens=TokenStore(config, clock, world), clock=clock)
    faults = FaultRules(clock)
    requests = RequestLog(clock)
    limiter = RateLimiter(config, clock)

    def reset() -> None:
        clock.offset = 0.0
        sim.world = build_world(seed)
        sim.tokens = TokenStore(config, clock, sim.world)
        faults.clear()
        requests.clear()
        limiter.clear()

    middleware = [
        Middleware(EdgeMiddleware),
        Middleware(RequestLogMiddleware, log=requests),
        Middleware(FaultMiddleware, faults=faults),
    ]
    if config.rate_limits_enabled:
        middleware.append(Middleware(RateLimitMiddleware, limiter=limiter, sim=sim))
    app = Starlette(
        # Routes match in order: the Jira API, the hot path, goes first.
        routes=[*jira_routes(), *v2_routes(), *oauth_routes(), *site_routes(), *hook_routes()],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sim = sim
    app.state.hooks = SimHooks(faults=faults, requests=requests, reset=reset)
    app.state.rate_limiter = limiter
    return app
