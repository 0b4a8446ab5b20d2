"""Shared fixtures for the simulator's tests: a fresh world, the app over it, an in-process client, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.sim.atlassian import SimConfig, build_world, create_sim_app
from policyarc.sim.atlassian.model import World
from policyarc.sim.atlassian.seed import DEMO_CLIENT_ID
from policyarc.sim.atlassian.state import Clock

CLASSIC_SCOPES = ("read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access")
SHARED_ATLASSIAN = Path(__file__).resolve().parents[3] / ".." / "shared" / "atlassian"

Mint = Callable[..., str]


class StillClock(Clock):
    """A clock that only moves when told to, so rate-limit buckets do not refill while a test runs."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        super().__init__()
        self.start = start

    def time(self) -> float:
        return self.start + self.offset


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def sim_app(world: World) -> Starlette:
    """The simulator over `world` (so a test may change the world directly), rate limits on."""
    return create_sim_app(SimConfig(), world=world)


@pytest.fixture
async def sim_client(sim_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url="http://sim") as client:
        yield client


@pytest.fixture
def mint(sim_app: Starlette) -> Mint:
    """`mint(email, scopes=CLASSIC_SCOPES, site="acme") -> access token` for the demo app; `site` may be a list."""

    def mint(email: str, scopes: Iterable[str] = CLASSIC_SCOPES, site: str | Iterable[str] = "acme") -> str:
        sim = sim_app.state.sim
        user = sim.world.user_by_email(email)
        if user is None:
            raise LookupError(f"no seeded user {email}")
        names = [site] if isinstance(site, str) else list(site)
        cloud_ids = [sim.world.sites[name].cloud_id for name in names]
        return str(sim.tokens.mint(user.account_id, DEMO_CLIENT_ID, scopes, cloud_ids)["access_token"])

    return mint


@pytest.fixture
def still_clock() -> StillClock:
    return StillClock()
