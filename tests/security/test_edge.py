"""The gateway's edge: the first 401's scope and step-up (finding 11), exact Host/Origin (12), private files
(13)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from policyarc.app import create_app
from policyarc.host_guard import AllowedPeers
from policyarc.policy import Rule, rules_to_cedar
from policyarc.settings import load_settings
from policyarc.store import create_engine
from policyarc.store.models import AccessToken
from tests.e2e.harness import GATEWAY, Product, running_product
from tests.e2e.test_mcp_flow import grant_everything

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
READ_TOOLS = {"search_issues", "get_issue", "get_transitions"}
ALL_TOOLS = READ_TOOLS | {"create_issue", "update_issue", "transition_issue", "list_projects"}


async def token_scopes(product: Product, token: str) -> set[str]:
    from policyarc.secrets import hash_token

    async with product.gateway.sessions() as session:
        scopes = await session.scalar(select(AccessToken.scopes).where(AccessToken.token_hash == hash_token(token)))
    assert scopes is not None
    return set(scopes.split())


async def listed(product: Product, token: str) -> tuple[int, Any]:
    async with product.raw() as http:
        response = await http.post("/mcp", json=LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    return response.status_code, orjson.loads(response.content)


# Finding 11: least privilege first, then step up.


async def test_the_first_401_names_the_default_scope(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.raw() as http:
        anonymous = await http.post("/mcp", json=LIST, headers=MCP_HEADERS)
        forged = await http.post("/mcp", json=LIST, headers={**MCP_HEADERS, "Authorization": "Bearer pa_at_forged"})
    assert anonymous.status_code == forged.status_code == 401
    assert 'scope="jira:issues:read"' in anonymous.headers["www-authenticate"]
    assert 'error="invalid_token"' not in anonymous.headers["www-authenticate"]
    assert 'scope="jira:issues:read"' in forged.headers["www-authenticate"]
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_read_only_token_sees_what_policy_grants_and_steps_up_to_write(tmp_path: Path, fast_path: bool) -> None:
    async with running_product(tmp_path, fast_path=fast_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com") as client:  # asks for what the 401 names
            first = product.token_of("alice@example.com")
            assert await token_scopes(product, first) == {"jira:issues:read"}
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == ALL_TOOLS  # policy grants them: listed, so a client can reach the step-up
            status, raw = await listed(product, first)
            assert status == 200
            assert {tool["name"] for tool in raw["result"]["tools"]} == ALL_TOOLS
            async with product.raw() as http:
                call = {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "create_issue", "arguments": {"project": "ENG", "summary": "x"}},
                }
                refused = await http.post(
                    "/mcp", json=call, headers={**MCP_HEADERS, "Authorization": f"Bearer {first}"}
                )
            assert refused.status_code == 403
            assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
            # The SDK's client steps up on that 403 (a second consent), then the call goes through.
            created = await client.call_tool("create_issue", {"project": "ENG", "summary": "after step-up"})
            assert not created.is_error, created.content
        stepped_up = product.token_of("alice@example.com")
        assert stepped_up != first
        assert {"jira:issues:read", "jira:issues:write"} <= await token_scopes(product, stepped_up)


async def test_a_tool_policy_does_not_grant_stays_hidden(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        no_write = rules_to_cedar([Rule(effect="permit", scopes=("jira:issues:read", "jira:projects:read"))])
        from policyarc.services.environments import ensure_environment
        from policyarc.services.policies import gateway_scopes, set_policy

        async with product.gateway.sessions() as session:
            environment = await ensure_environment(session)
            await set_policy(session, environment, no_write, scopes=gateway_scopes(), actor="test")
        await product.gateway.policy_watcher.reload()
        async with product.client("alice@example.com") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == READ_TOOLS | {"list_projects"}


async def test_listings_are_built_once_per_granted_scope_set(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        token = product.token_of("alice@example.com")
        first = await listed(product, token)
        second = await listed(product, token)
        assert first == second
        fast_path = _fast_path(product)
        assert len(fast_path._listings) == 1  # one serialised listing for one scope set, shared by both calls


def _fast_path(product: Product) -> Any:
    for route in product.gateway_app.routes:
        if getattr(route, "path", None) == "/mcp":
            app = route.app  # type: ignore[attr-defined]
            while not hasattr(app, "_fast_path"):
                app = app.app  # through the guards in front of the endpoint
            return app._fast_path
    raise AssertionError("no /mcp route")


# Finding 12: Host and Origin match exactly.

HTTPS = AllowedPeers.for_public_url("https://gw.example.com")
LOOPBACK = AllowedPeers.for_public_url("http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("peers", "host", "allowed"),
    [
        (HTTPS, "gw.example.com", True),
        (HTTPS, "GW.Example.com:443", True),
        (HTTPS, "gw.example.com:8443", False),
        (HTTPS, "gw.example.com.evil.example", False),
        (HTTPS, "gw.example.com:443.evil.example", False),
        (HTTPS, "127.0.0.1:8000", False),  # loopback is not ours when the public URL is https
        (HTTPS, "localhost", False),
        (HTTPS, "[::1]:8000", False),
        (LOOPBACK, "127.0.0.1:8000", True),
        (LOOPBACK, "localhost:6274", True),
        (LOOPBACK, "[::1]:8000", True),
        (LOOPBACK, "127.0.0.1:8310.evil.example", False),
        (LOOPBACK, "127.0.0.1:80a", False),
        (LOOPBACK, "127.0.0.1.evil.example:8000", False),
        (LOOPBACK, "evil.example:8000", False),
    ],
)
def test_host_matches_exactly(peers: AllowedPeers, host: str, allowed: bool) -> None:
    assert peers.host_allowed(host) is allowed


@pytest.mark.parametrize(
    ("peers", "origin", "allowed"),
    [
        (HTTPS, "https://gw.example.com", True),
        (HTTPS, "https://gw.example.com:443", True),
        (HTTPS, "http://gw.example.com", False),
        (HTTPS, "https://gw.example.com.evil.example", False),
        (HTTPS, "https://gw.example.com/path", False),
        (HTTPS, "http://127.0.0.1:8310", False),
        (HTTPS, "http://localhost:6274", False),
        (HTTPS, "null", False),
        (LOOPBACK, "http://127.0.0.1:8310", True),
        (LOOPBACK, "http://localhost:6274", True),
        (LOOPBACK, "http://[::1]:6274", True),
        (LOOPBACK, "http://127.0.0.1:8310.evil.example", False),
        (LOOPBACK, "http://localhost:6274@evil.example", False),
        (LOOPBACK, "http://evil.example:8000", False),
        (LOOPBACK, "null", False),
    ],
)
def test_origin_matches_exactly(peers: AllowedPeers, origin: str, allowed: bool) -> None:
    assert peers.origin_allowed(origin) is allowed


@pytest.mark.parametrize("fast_path", [True, False])
async def test_mcp_refuses_loopback_and_prefix_tricks_behind_an_https_url(tmp_path: Path, fast_path: bool) -> None:
    async with running_product(tmp_path, fast_path=fast_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        auth = {**MCP_HEADERS, "Authorization": f"Bearer {product.token_of('alice@example.com')}"}
        async with product.raw() as http:

            async def post(**headers: str) -> int:
                response = await http.post("/mcp", json=LIST, headers={**auth, **headers})
                return response.status_code

            assert await post(Origin=GATEWAY) == 200
            assert await post(Host="127.0.0.1:8000") == 421
            assert await post(Origin="http://127.0.0.1:8310") == 403
            assert await post(Host="localhost") == 421
            assert await post(Host="gw.test.evil.example") == 421
            assert await post(Host="gw.test:443") == 200
            assert await post(Origin="http://127.0.0.1:8310.evil.example") == 403
            assert await post(Origin="https://gw.test.evil.example") == 403
            # A local health check needs no exception: /healthz has no Host check.
            health = await http.get("/healthz", headers={"Host": "127.0.0.1:8000"})
            assert health.status_code == 200


async def test_a_loopback_gateway_accepts_local_clients_on_any_port_and_nothing_else(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "gw", public_url="http://127.0.0.1:8000")
    app = create_app(settings)
    transport = httpx.ASGITransport(app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport) as http:
        url = "http://127.0.0.1:8000/mcp"
        local = await http.post(url, json=LIST, headers={**MCP_HEADERS, "Origin": "http://localhost:6274"})
        assert local.status_code == 401  # past the guard: asks to sign in
        tricked = await http.post(
            url, json=LIST, headers={**MCP_HEADERS, "Origin": "http://127.0.0.1:8310.evil.example"}
        )
        assert tricked.status_code == 403
        rebound = await http.post("http://evil.example:8000/mcp", json=LIST, headers=MCP_HEADERS)
        assert rebound.status_code == 421


# Finding 13: the database file, its -wal and -shm, and the data directory are the owner's only.


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, under which SQLite would create 0644 files
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
async def test_sqlite_files_and_the_data_dir_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "gw"
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.call_tool("get_issue", {"key": "ENG-1"})
        database = data_dir / "policyarc.db"
        files = [database, database.with_name("policyarc.db-wal"), database.with_name("policyarc.db-shm")]
        for file in files:
            assert file.exists(), file
            assert mode(file) == 0o600, f"{file.name} is {mode(file):04o}"
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "keyring.json") == 0o600


@pytest.mark.usefixtures("umask_022")
async def test_a_looser_existing_data_dir_and_database_are_tightened_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "gw"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    database = data_dir / "policyarc.db"
    database.touch()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="policyarc.store.engine"):
        create_app(load_settings(data_dir=data_dir))
    assert mode(data_dir) == 0o700
    assert mode(database) == 0o600
    tightened = [record.getMessage() for record in caplog.records if "tightened" in record.getMessage()]
    assert len(tightened) == 2, tightened  # one line for the directory, one for the file
    assert any("data directory" in line and "0755" in line for line in tightened)
    caplog.clear()
    create_app(load_settings(data_dir=data_dir))  # already private: nothing to say
    assert not [record for record in caplog.records if "tightened" in record.getMessage()]


@pytest.mark.usefixtures("umask_022")
async def test_an_engine_creates_its_sqlite_file_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "x.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    finally:
        await engine.dispose()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
