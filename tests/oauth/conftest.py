"""Fixtures: `gateway` (the OAuth routes over a migrated SQLite file, wired to the simulator in-process) and
`documents` (a tiny app serving Client ID Metadata Documents at https://client.example)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from policyarc.oauth import OAuthConfig
from policyarc.secrets import KeyRing
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.store import create_engine, session_factory, upgrade
from tests.oauth.gateway_harness import (
    ISSUER,
    SCOPES,
    SIM_SEED,
    Documents,
    FakeClock,
    FakePolicy,
    Gateway,
    HostRouter,
    build_gateway_app,
)
from tests.oauth.gateway_harness import seed_environment as _seed_environment


@pytest.fixture
def documents() -> Documents:
    return Documents()


@pytest.fixture
async def gateway(tmp_path: Path, documents: Documents) -> AsyncIterator[Gateway]:
    db_path = tmp_path / "policyarc.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(engine)
    sessions = session_factory(engine)
    keyring = KeyRing.generate()
    environment_id = await _seed_environment(sessions, keyring)
    clock = FakeClock()
    policy = FakePolicy()
    sim_app = create_sim_app(SimConfig(auto_consent=True, rate_limits_enabled=False), seed=SIM_SEED)
    doc_app = Starlette(routes=[Route("/{path:path}", documents.serve)])
    config = OAuthConfig(issuer=ISSUER, environment_id=environment_id, scopes=SCOPES)
    async with httpx.AsyncClient(transport=HostRouter({"sim": sim_app, "client.example": doc_app})) as outbound:
        app, provider, resolver = build_gateway_app(
            sessions=sessions, config=config, keyring=keyring, clock=clock, policy=policy, outbound=outbound
        )
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=ISSUER) as client,
            httpx.AsyncClient(transport=httpx.ASGITransport(sim_app), base_url="http://sim") as sim_client,
        ):
            yield Gateway(
                client=client,
                sim_client=sim_client,
                sessions=sessions,
                engine=engine,
                db_path=db_path,
                keyring=keyring,
                clock=clock,
                policy=policy,
                provider=provider,
                resolver=resolver,
                config=config,
                environment_id=environment_id,
            )
    await engine.dispose()
