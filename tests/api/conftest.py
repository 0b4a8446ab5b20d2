"""Fixtures: `admin` (the admin API over a migrated SQLite file, a live admin key, tenant_info faked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.admin import create_admin_key
from policyarc.api import AdminApi, ApiKeyAuthenticator, create_api_routes
from policyarc.policy import PolicyRegistry
from policyarc.policy.store import PolicyWatcher
from policyarc.secrets import KeyRing
from policyarc.services import ensure_environment, gateway_scopes
from policyarc.store import create_engine, session_factory, upgrade
from tests.api.admin_harness import PUBLIC_URL, Admin, Recorder, tenant_info


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    db_path = tmp_path / "policyarc.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(engine)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            environment = await ensure_environment(session)
            key_id, key = await create_admin_key(session, "ops-key")
            await session.commit()
        keyring = KeyRing.generate()
        registry = PolicyRegistry(gateway_scopes())
        watcher = PolicyWatcher(sessions, registry)
        await watcher.reload()
        recorder = Recorder()
        calls: list[str] = []
        async with httpx.AsyncClient(transport=tenant_info(calls)) as outbound:
            api = AdminApi(
                sessions=sessions,
                keyring=keyring,
                http=outbound,
                public_url=PUBLIC_URL,
                site_url_template="http://sim/site/{site}",
                scopes=gateway_scopes(),
                listeners=[watcher, recorder],
            )
            app = Starlette(routes=create_api_routes(api, authenticators=[ApiKeyAuthenticator(sessions)]))
            transport = httpx.ASGITransport(app)
            async with (
                httpx.AsyncClient(
                    transport=transport, base_url=PUBLIC_URL, headers={"Authorization": f"Bearer {key}"}
                ) as client,
                httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as anonymous,
            ):
                yield Admin(
                    client=client,
                    anonymous=anonymous,
                    sessions=sessions,
                    engine=engine,
                    db_path=db_path,
                    keyring=keyring,
                    key=key,
                    key_id=key_id,
                    key_name="ops-key",
                    environment_id=environment.id,
                    registry=registry,
                    watcher=watcher,
                    recorder=recorder,
                    tenant_calls=calls,
                )
    finally:
        await engine.dispose()
