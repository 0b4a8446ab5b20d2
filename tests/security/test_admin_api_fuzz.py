"""Schemathesis against the admin API, driven by its own OpenAPI document: whatever a client sends, with or
without a valid admin key, the API answers with a problem document, never a 5xx.

The app runs over a migrated SQLite file with a connection per request (NullPool), because schemathesis calls an
ASGI app through Starlette's test client, which runs each request on an event loop of its own.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette
from starlette.testclient import TestClient

from policyarc.admin import create_admin_key
from policyarc.api import AdminApi, ApiKeyAuthenticator, create_api_routes
from policyarc.policy import PolicyRegistry
from policyarc.policy.store import PolicyWatcher
from policyarc.secrets import KeyRing
from policyarc.services import ensure_environment, gateway_scopes
from policyarc.store import create_engine, session_factory, upgrade
from tests.api.admin_harness import PUBLIC_URL, tenant_info

_DATA = Path(tempfile.mkdtemp(prefix="policyarc-admin-fuzz-"))


async def _prepare(url: str) -> str:
    engine = create_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            await ensure_environment(session)
            _, key = await create_admin_key(session, "fuzz")
            await session.commit()
        return key
    finally:
        await engine.dispose()


def _build() -> tuple[Starlette, str]:
    url = f"sqlite+aiosqlite:///{_DATA / 'policyarc.db'}"
    key = asyncio.run(_prepare(url))
    sessions = session_factory(create_engine(url, poolclass=NullPool))
    registry = PolicyRegistry(gateway_scopes())
    api = AdminApi(
        sessions=sessions,
        keyring=KeyRing.generate(),
        http=httpx.AsyncClient(transport=tenant_info([])),
        public_url=PUBLIC_URL,
        site_url_template="http://sim/site/{site}",
        scopes=gateway_scopes(),
        listeners=[PolicyWatcher(sessions, registry)],
    )
    return Starlette(routes=create_api_routes(api, authenticators=[ApiKeyAuthenticator(sessions)])), key


app, KEY = _build()
with TestClient(app, base_url=PUBLIC_URL) as _client:
    _document = _client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
schema = schemathesis.openapi.from_dict(_document)
schema.app = app

SETTINGS = hypothesis.settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


@schema.parametrize()
@SETTINGS
def test_admin_api_never_answers_5xx_to_an_admin(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {KEY}"})
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"], (case.headers, response.text)


@schema.parametrize()
@SETTINGS
def test_admin_api_refuses_every_anonymous_call(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": "Bearer pa_admin_not-a-key"})
    assert response.status_code == 401, (case.method, case.path, response.status_code)
