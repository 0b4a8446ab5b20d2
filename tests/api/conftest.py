"""Fixtures: `admin` (the admin API over a migrated SQLite file, a live admin key, tenant_info faked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from policyarc.admin import create_admin_key
from policyarc.api import AdminApi, ApiKeyAuthenticator, create_api_routes
from policyarc.policy import PolicyRegistry
from policyarc.policy.store import PolicyWatcher
from policyarc.secrets import KeyRing
from policyarc.services import ensure_environment, gateway_scopes
from policyarc.store import create_engine, session_factory, upgrade

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
PUBLIC_URL = "https://gw.example.com"
SITES = {"acme": ACME}


@dataclass
class Recorder:
    """A ChangeListener that remembers what it heard."""

    heard: list[tuple[str, str]] = field(default_factory=list)

    async def changed(self, what: str, environment_id: str) -> None:
        self.heard.append((what, environment_id))


@dataclass
class Admin:
    client: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    db_path: Path
    keyring: KeyRing
    key: str
    key_name: str
    environment_id: str
    registry: PolicyRegistry
    watcher: PolicyWatcher
    recorder: Recorder
    tenant_calls: list[str]


def tenant_info(calls: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        site = request.url.path.split("/")[2]
        if request.url.path != f"/site/{site}/_edge/tenant_info":
            return httpx.Response(404)
        if site == "down":
            return httpx.Response(503)
        if site not in SITES:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(200, json={"cloudId": SITES[site]})

    return httpx.MockTransport(handle)


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    db_path = tmp_path / "policyarc.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(engine)
    sessions = session_factory(engine)
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
                key_name="ops-key",
                environment_id=environment.id,
                registry=registry,
                watcher=watcher,
                recorder=recorder,
                tenant_calls=calls,
            )
    await engine.dispose()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is an RFC 9457 problem with this status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:policyarc:problem:{code}"
    assert body["title"] and body["detail"]
    return body
