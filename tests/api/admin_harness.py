"""The admin API over a migrated SQLite file with a live admin key and a fake tenant_info, for tests/api."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.policy import PolicyRegistry
from policyarc.policy.store import PolicyWatcher
from policyarc.secrets import KeyRing

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
    key_id: str
    key_name: str
    environment_id: str
    registry: PolicyRegistry
    watcher: PolicyWatcher
    recorder: Recorder
    tenant_calls: list[str]

    def database_bytes(self) -> bytes:
        """The SQLite file and its write-ahead log: where a leaked secret would be."""
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        return self.db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


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
