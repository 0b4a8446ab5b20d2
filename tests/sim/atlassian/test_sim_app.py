"""The app as a whole: wiring, unknown paths, unexpected errors (module: sim/atlassian/app.py)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from policyarc.sim.atlassian import SimConfig, build_world, create_sim_app
from policyarc.sim.atlassian.ratelimit import RateLimitMiddleware


async def test_unknown_path_is_jira_404(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.get("/api/ex/jira/nope/rest/api/3/frobnicate")
    assert response.status_code == 404
    assert response.json() == {
        "errorMessages": ["null for uri: http://sim/api/ex/jira/nope/rest/api/3/frobnicate"],
        "errors": {},
    }


async def test_unexpected_exception_is_json_500(sim_app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom with a secret-ish detail")

    sim_app.router.routes.append(Route("/boom", boom))
    transport = httpx.ASGITransport(app=sim_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errorMessages"] == ["Internal server error in the simulator (RuntimeError)."]
    assert "kaboom" not in response.text
    assert "simulator bug on GET /boom" in caplog.text


def test_state_and_seed_wiring() -> None:
    app = create_sim_app(seed={"users": [{"email": "fay@example.com", "name": "Fay Fox"}]})
    assert app.state.sim.world.user_by_email("fay@example.com") is not None
    assert app.state.sim.config == SimConfig()
    world = build_world()
    assert create_sim_app(world=world).state.sim.world is world


def test_rate_limit_middleware_only_when_enabled() -> None:
    def has_limiter(app: Starlette) -> bool:
        return any(m.cls is RateLimitMiddleware for m in app.user_middleware)

    assert has_limiter(create_sim_app())
    assert not has_limiter(create_sim_app(SimConfig(rate_limits_enabled=False)))


async def test_oauth_and_jira_routes_are_mounted(sim_client: httpx.AsyncClient) -> None:
    # Without a token both answer 401 from their own handlers, not the app's 404.
    assert (await sim_client.get("/api/me")).status_code == 401
    cloud = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
    assert (await sim_client.get(f"/api/ex/jira/{cloud}/rest/api/3/myself")).status_code == 401
