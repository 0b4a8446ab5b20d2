"""The gateway's edge: the first 401's scope and step-up (finding 11), exact Host/Origin (12), private files (13),
and a database that goes away (15)."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from starlette.types import Message, Receive, Scope, Send

from policyarc.admin import create_admin_key
from policyarc.app import create_app
from policyarc.host_guard import AllowedPeers
from policyarc.policy import Rule, rules_to_cedar
from policyarc.settings import load_settings
from policyarc.store import create_engine
from policyarc.store.models import AccessToken
from policyarc.store.outage import describe_outage, is_database_unreachable
from policyarc.unavailable import DatabaseOutageMiddleware
from tests.e2e.harness import GATEWAY, Product, running_product
from tests.e2e.test_mcp_flow import grant_everything
from tests.security.tcp_proxy import TcpProxy

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


# Finding 15: a database that goes away, and comes back.


def test_database_outages_are_told_from_bugs() -> None:
    refused = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed"))
    assert is_database_unreachable(refused)
    assert is_database_unreachable(sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")))
    assert is_database_unreachable(sa_exc.TimeoutError("QueuePool limit reached"))
    import sqlite3

    locked = sa_exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert is_database_unreachable(locked)
    no_table = sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: users"))
    assert not is_database_unreachable(no_table)
    assert not is_database_unreachable(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_database_unreachable(ValueError("a bug"))
    assert not is_database_unreachable(ConnectionRefusedError(111, "an upstream, not the database"))
    assert describe_outage(refused) == "ConnectionRefusedError: [Errno 111] Connect call failed"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def run(app: Any, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def raising(exc: BaseException, *, after_start: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise exc

    return app


async def test_the_outage_middleware_answers_503_and_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed"))
    middleware = DatabaseOutageMiddleware(raising(outage), retry_after=7, log_every=30.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="policyarc.unavailable"):
        for _ in range(5):
            status, headers, body = await run(middleware)
            assert status == 503
            assert headers["retry-after"] == "7"
            assert headers["content-type"] == "application/json"
            assert orjson.loads(body)["error"] == "temporarily_unavailable"
        assert len(caplog.records) == 1  # five failures, one line
        clock.now += 31
        await run(middleware)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "4 more requests answered 503" in lines[1]
    assert not any(record.exc_info for record in caplog.records)


async def test_the_outage_middleware_leaves_other_errors_alone() -> None:
    with pytest.raises(ValueError, match="a bug"):
        await run(DatabaseOutageMiddleware(raising(ValueError("a bug"))))
    outage = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
    with pytest.raises(sa_exc.OperationalError):  # the response had begun: nothing honest left to send
        await run(DatabaseOutageMiddleware(raising(outage, after_start=True)))


@pytest.fixture
def proxied_pg(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    head, _, tail = pg_url.partition("@")
    server, _, name = tail.partition("/")
    host, _, port = server.partition(":")
    proxy = TcpProxy(host, int(port or 5432))
    proxy.restore()
    try:
        yield f"{head}@127.0.0.1:{proxy.port}/{name}", proxy
    finally:
        proxy.close()


async def test_a_lost_database_is_a_503_everywhere_and_the_gateway_recovers(
    tmp_path: Path, proxied_pg: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = proxied_pg
    async with running_product(tmp_path, database_url=url) as product:
        async with product.gateway.sessions.begin() as session:
            _, key = await create_admin_key(session, "edge admin")
        admin = {"Authorization": f"Bearer {key}"}
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        storage = product.storages["alice@example.com"]
        assert storage.tokens is not None and storage.client is not None
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": storage.tokens.refresh_token or "",
            "client_id": storage.client.client_id or "",
        }
        unknown = {**MCP_HEADERS, "Authorization": "Bearer pa_at_not_in_the_cache"}
        async with product.raw() as http:
            proxy.cut()
            with caplog.at_level(logging.WARNING):
                mcp = await http.post("/mcp", json=LIST, headers=unknown)
                token = await http.post("/token", data=refresh)
                api = await http.get("/api/v1/environments", headers=admin)
            for response in (mcp, token, api):
                assert response.status_code == 503, (response.request.url, response.text)
                assert response.headers["retry-after"] == "5"
                assert response.headers["content-type"].startswith(("application/json", "application/problem+json"))
                assert response.json()
            assert mcp.json()["error"] == "temporarily_unavailable"
            assert token.json()["error"] == "temporarily_unavailable"
            assert api.json()["code"] == "database_unavailable"
            edge_records = [r for r in caplog.records if r.name in ("policyarc.unavailable", "policyarc.api.routes")]
            assert edge_records and not any(record.exc_info for record in edge_records)

            proxy.restore()  # the database is back: no restart, the next requests succeed
            refreshed = await http.post("/token", data=refresh)
            assert refreshed.status_code == 200, refreshed.text
            fresh = refreshed.json()["access_token"]
            back = await http.post("/mcp", json=LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {fresh}"})
            assert back.status_code == 200
            assert (await http.get("/api/v1/environments", headers=admin)).status_code == 200


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here any more


def test_serve_retries_an_unreachable_database_then_exits_with_one_line_each(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("policyarc")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from policyarc.cli import main; main()"]
    env = {
        **os.environ,
        "POLICYARC_DATA_DIR": str(tmp_path / "gw"),
        "POLICYARC_DATABASE_URL": f"postgresql+asyncpg://policyarc:s3cret@127.0.0.1:{_closed_port()}/policyarc",
    }
    done = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [*command, "serve", "--db-attempts", "3", "--db-retry-delay", "0"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    lines = stderr.strip().splitlines()
    assert done.returncode == 1
    assert "Traceback" not in stderr
    assert "s3cret" not in stderr  # the URL is shown with its password hidden
    assert len(lines) == 3, stderr
    for number, line in enumerate(lines, start=1):
        assert f"attempt {number} of 3" in line
        assert "ConnectionRefusedError" in line
        assert "policyarc:***@127.0.0.1" in line
    assert lines[0].endswith("retrying in 0 s")
    assert lines[2].startswith("error: cannot reach the database at")


async def test_authorize_during_a_database_outage_is_a_503_or_temporarily_unavailable_never_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = sa_exc.OperationalError("SELECT", {}, ConnectionRefusedError(111, "Connect call failed"))
    async with running_product(tmp_path) as product, product.raw() as http:
        client = (await http.post("/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})).json()
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": "http://127.0.0.1:9/cb",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "state": "s",
        }
        provider = product.gateway.provider

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise refused

        with monkeypatch.context() as patch:  # the client cannot even be loaded
            patch.setattr(provider, "get_client", unreachable)
            answer = await http.get("/authorize", params=query)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"].startswith("application/json")
        with monkeypatch.context() as patch:  # the client loads, the pending request cannot be stored
            patch.setattr(provider, "authorize", unreachable)
            answer = await http.get("/authorize", params=query)
        assert answer.status_code == 302
        assert "error=temporarily_unavailable" in answer.headers["location"] and "state=s" in answer.headers["location"]
        assert not [r for r in caplog.records if r.exc_info], "an outage logged a traceback"
        assert (await http.get("/authorize", params=query)).status_code == 302  # and back to normal
