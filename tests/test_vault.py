"""TokenVault against the Atlassian simulator in-process, on SQLite and PostgreSQL (`db_url`, tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.connectors.base import ToolFailure
from policyarc.identity.atlassian import ATLASSIAN_SCOPES, AtlassianIdentity, UpstreamTokens
from policyarc.identity.errors import GrantRevoked
from policyarc.secrets import KeyRing, column_aad
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.state import Clock as SimClock
from policyarc.store import create_engine, session_factory, upgrade
from policyarc.store.models import Environment, IdentityProvider, UpstreamLink, User, new_id
from policyarc.vault import TokenVault

ALICE = "alice@example.com"
ALICE_ACCOUNT = "712020:a11ce000-0000-4000-8000-000000000001"
ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
TOKEN_PATH = "/auth/oauth/token"


class FakeClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Rig:
    """One database, the simulator, and a way to build vaults ("processes") over them."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    sim: httpx.AsyncClient
    sim_clock: SimClock
    identity: AtlassianIdentity
    clock: FakeClock
    caller: Caller
    engines: list[AsyncEngine]

    def vault(self, *, separate_engine: bool = False, **options: Any) -> TokenVault:
        sessions = self.sessions
        if separate_engine:  # another process: its own engine and connection pool on the same database
            engine = create_engine(self.url)
            self.engines.append(engine)
            sessions = session_factory(engine)
        return TokenVault(sessions=sessions, keyring=self.keyring, identity=self.identity, clock=self.clock, **options)

    async def mint(self) -> dict[str, Any]:
        response = await self.sim.post("/_sim/tokens", json={"email": ALICE})
        assert response.status_code == 200, response.text
        issued: dict[str, Any] = response.json()
        return issued

    async def link(self, vault: TokenVault, *, expires_in: float) -> dict[str, Any]:
        """Alice signs in (tokens minted at the sim); the vault believes the access token expires in `expires_in`."""
        issued = await self.mint()
        tokens = UpstreamTokens(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            expires_at=self.clock.time() + expires_in,
            scopes=tuple(issued["scope"].split()),
        )
        await vault.store_link(self.caller.user_id, tokens, [ACME], environment_id=self.caller.environment_id)
        return issued

    async def slow_token_endpoint(self) -> None:
        """Atlassian takes a moment to answer: wide enough a window for every racer to want a refresh."""
        fault = {"path": TOKEN_PATH, "kind": "latency", "latency_ms": 200}
        assert (await self.sim.post("/_sim/faults", json=fault)).status_code == 201

    async def refreshes(self) -> int:
        response = await self.sim.get("/_sim/requests", params={"path": TOKEN_PATH})
        return len(response.json()["requests"])

    async def row(self) -> UpstreamLink:
        async with self.sessions() as db:
            link = await db.scalar(select(UpstreamLink).where(UpstreamLink.user_id == self.caller.user_id))
        assert link is not None
        return link

    def open(self, link: UpstreamLink, column: str) -> str:
        return self.keyring.decrypt(getattr(link, column), aad=column_aad("upstream_links", column, link.id))

    async def accepted(self, access_token: str) -> bool:
        response = await self.sim.get("/api/me", headers={"Authorization": f"Bearer {access_token}"})
        return response.status_code == 200


async def _rig(url: str) -> AsyncIterator[Rig]:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    keyring = KeyRing.generate()
    async with sessions() as db:
        environment = Environment(id=new_id(), name="default")
        idp = IdentityProvider(
            id=new_id(),
            environment_id=environment.id,
            kind="atlassian",
            client_id="policyarc-demo",
            scopes=" ".join(ATLASSIAN_SCOPES),
        )
        idp.client_secret_enc = keyring.encrypt(
            "policyarc-demo-secret", aad=column_aad("identity_providers", "client_secret_enc", idp.id)
        )
        user = User(id=new_id(), email=ALICE, idp_kind="atlassian", idp_subject=ALICE_ACCOUNT)
        db.add_all([environment, user])
        await db.flush()
        db.add(idp)
        await db.commit()
    caller = Caller(
        user_id=user.id,
        email=ALICE,
        account_id=ALICE_ACCOUNT,
        client_id="test-client",
        client_name="Test",
        environment_id=environment.id,
        scopes=frozenset({"jira:issues:read"}),
        expires_at=time.time() + 900,
    )
    sim_clock = SimClock()
    sim_app = create_sim_app(SimConfig(rate_limits_enabled=False), clock=sim_clock)
    engines: list[AsyncEngine] = [engine]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim_app), base_url="http://sim") as sim:
        identity = AtlassianIdentity(sim, auth_url="http://sim/auth", api_url="http://sim/api")
        try:
            yield Rig(url, engine, sessions, keyring, sim, sim_clock, identity, FakeClock(), caller, engines)
        finally:
            for each in engines:
                await each.dispose()


@pytest.fixture
async def rig(sqlite_url: str) -> AsyncIterator[Rig]:
    async for each in _rig(sqlite_url):
        yield each


@pytest.fixture
async def any_rig(db_url: str) -> AsyncIterator[Rig]:
    async for each in _rig(db_url):
        yield each


# -- the hot path ---------------------------------------------------------------------------------------------


async def test_valid_token_is_returned_without_refresh_or_database(rig: Rig) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=3600)
    statements: list[str] = []
    event.listen(rig.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    tokens = [await vault.access_token(rig.caller) for _ in range(20)]

    assert tokens == [issued["access_token"]] * 20
    assert statements == []  # served from the cache: no round trip, no decryption
    assert await rig.refreshes() == 0
    # A vault with a cold cache (another process) reads the row once, and gets the same token.
    other = rig.vault(separate_engine=True)
    assert await other.access_token(rig.caller) == issued["access_token"]


async def test_token_near_expiry_is_refreshed_and_persisted(rig: Rig) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=600)
    assert await vault.access_token(rig.caller) == issued["access_token"]
    before = await rig.row()

    rig.clock.advance(500)  # 100 s left: inside the 120 s margin
    token = await vault.access_token(rig.caller)

    assert token != issued["access_token"]
    assert await rig.refreshes() == 1
    assert await rig.accepted(token)
    after = await rig.row()
    assert after.version == before.version + 1
    assert rig.open(after, "access_token_enc") == token
    assert rig.open(after, "refresh_token_enc") not in (issued["refresh_token"], rig.open(before, "refresh_token_enc"))
    assert await vault.access_token(rig.caller) == token  # fresh again: no second refresh
    assert await rig.refreshes() == 1


async def test_a_sign_in_elsewhere_reaches_the_cache_within_recheck_after(rig: Rig) -> None:
    vault = rig.vault(recheck_after=30)
    first = await rig.link(vault, expires_in=3600)
    assert await vault.access_token(rig.caller) == first["access_token"]
    second = await rig.link(rig.vault(separate_engine=True), expires_in=3600)  # signed in again on another instance

    assert await vault.access_token(rig.caller) == first["access_token"]  # still within the bound: still valid
    rig.clock.advance(31)
    assert await vault.access_token(rig.caller) == second["access_token"]


class Feed:
    """A change feed shared by the vaults of a test ("instances"): live or not, and every announcement delivered
    to every subscriber, as PostgreSQL's NOTIFY does."""

    def __init__(self, live: bool = True) -> None:
        self.live = live
        self.published: list[str] = []
        self.subscribers: list[TokenVault] = []

    def publish_soon(self, kind: str, keys: Iterable[str]) -> None:
        for key in keys:
            self.published.append(f"{kind}:{key}")
            if kind == "link":
                for vault in self.subscribers:
                    vault.forget(key)


async def test_while_link_changes_are_pushed_the_cache_is_trusted_for_the_long_bound(rig: Rig) -> None:
    feed = Feed(live=True)
    vault = rig.vault(recheck_after=30, changes=feed)
    first = await rig.link(vault, expires_in=3600)
    assert await vault.access_token(rig.caller) == first["access_token"]
    second = await rig.link(rig.vault(separate_engine=True), expires_in=3600)  # unannounced: no feed there

    rig.clock.advance(31)
    assert await vault.access_token(rig.caller) == first["access_token"]  # pushes would have said: still trusted
    feed.live = False  # the feed went down: the short bound is back at once
    assert await vault.access_token(rig.caller) == second["access_token"]


async def test_recheck_after_zero_stays_exact_while_pushed(rig: Rig) -> None:
    vault = rig.vault(recheck_after=0, changes=Feed(live=True))
    first = await rig.link(vault, expires_in=3600)
    assert await vault.access_token(rig.caller) == first["access_token"]

    second = await rig.link(rig.vault(separate_engine=True), expires_in=3600)  # unannounced

    assert await vault.access_token(rig.caller) == second["access_token"]  # read on every call, as asked


async def test_a_sign_in_on_another_instance_is_announced_and_forgotten_everywhere(rig: Rig) -> None:
    feed = Feed(live=True)
    here = rig.vault(changes=feed)
    there = rig.vault(separate_engine=True, changes=feed)
    feed.subscribers += [here, there]
    first = await rig.link(here, expires_in=3600)
    assert await here.access_token(rig.caller) == first["access_token"]

    second = await rig.link(there, expires_in=3600)  # she signs in again, through the other instance

    assert f"link:{rig.caller.user_id}" in feed.published
    assert await here.access_token(rig.caller) == second["access_token"]  # no wait for any bound
    assert await there.access_token(rig.caller) == second["access_token"]  # its own delivery kept its fresh entry


async def test_a_reconnect_mark_is_announced(rig: Rig) -> None:
    feed = Feed(live=True)
    vault = rig.vault(changes=feed)
    await rig.link(vault, expires_in=3600)
    await vault.access_token(rig.caller)
    feed.published.clear()

    assert await vault.upstream_rejected(rig.caller) is None

    assert feed.published == [f"link:{rig.caller.user_id}"]


# -- single flight ----------------------------------------------------------------------------------------------


async def test_fifty_concurrent_calls_at_expiry_refresh_once(any_rig: Rig) -> None:
    vault = any_rig.vault()
    issued = await any_rig.link(vault, expires_in=300)
    any_rig.clock.advance(300)  # the moment of expiry
    await any_rig.slow_token_endpoint()

    tokens = await asyncio.gather(*(vault.access_token(any_rig.caller) for _ in range(50)))

    assert await any_rig.refreshes() == 1
    assert len(set(tokens)) == 1
    assert tokens[0] != issued["access_token"]
    assert await any_rig.accepted(tokens[0])


async def test_two_instances_sharing_a_database_refresh_once(any_rig: Rig) -> None:
    first = any_rig.vault(separate_engine=True)
    second = any_rig.vault(separate_engine=True)
    await any_rig.link(first, expires_in=300)
    any_rig.clock.advance(300)
    await any_rig.slow_token_endpoint()

    calls = [vault.access_token(any_rig.caller) for _ in range(25) for vault in (first, second)]
    tokens = await asyncio.gather(*calls)

    assert await any_rig.refreshes() == 1
    assert len(set(tokens)) == 1
    link = await any_rig.row()
    assert any_rig.open(link, "access_token_enc") == tokens[0]


# -- rotation and failure -----------------------------------------------------------------------------------------


class Crash(Exception):
    pass


async def test_rotated_refresh_token_is_committed_before_the_access_token_is_used(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=60)

    def crash(*args: object) -> None:
        raise Crash  # the process dies right after the refresh, before anything uses the new access token

    monkeypatch.setattr(vault, "_remember", crash)
    with pytest.raises(Crash):
        await vault.access_token(rig.caller)

    link = await rig.row()
    stored_refresh = rig.open(link, "refresh_token_enc")
    assert stored_refresh != issued["refresh_token"]
    assert await rig.accepted(rig.open(link, "access_token_enc"))
    # The stored refresh token is the live one: it rotates again (the old one would now be a reuse).
    rig.sim_clock.advance(601)
    app = await vault._app_for(rig.caller.environment_id)
    await rig.identity.refresh(app, refresh_token=stored_refresh)
    with pytest.raises(GrantRevoked):
        await rig.identity.refresh(app, refresh_token=issued["refresh_token"])


async def test_revoked_grant_marks_the_link_for_reconnect(rig: Rig) -> None:
    vault = rig.vault()
    await rig.link(vault, expires_in=60)
    await rig.sim.post("/_sim/tokens/revoke", json={"email": ALICE})  # the user removed the app at Atlassian

    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)

    assert failure.value.code == "reconnect_required"
    assert "Sign in again" in failure.value.message
    assert (await rig.row()).status == "reconnect"
    # Fails fast afterwards, on this instance and another one, without asking Atlassian again.
    for each in (vault, rig.vault(separate_engine=True)):
        with pytest.raises(ToolFailure) as again:
            await each.access_token(rig.caller)
        assert again.value.code == "reconnect_required"
    assert await rig.refreshes() == 1
    # A new sign-in makes the link usable again.
    issued = await rig.link(vault, expires_in=3600)
    assert await vault.access_token(rig.caller) == issued["access_token"]


async def test_refresh_token_reused_after_the_leeway_surfaces_as_reconnect(rig: Rig) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=60)
    fresh = await vault.access_token(rig.caller)  # rotates the refresh token
    # A stale copy of the row comes back (say, a restored backup) holding the rotated refresh token.
    stale = UpstreamTokens(issued["access_token"], issued["refresh_token"], rig.clock.time() + 5, ())
    await vault.store_link(rig.caller.user_id, stale, [ACME], environment_id=rig.caller.environment_id)
    rig.sim_clock.advance(601)  # past Atlassian's 10-minute leeway

    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)

    assert failure.value.code == "reconnect_required"
    assert (await rig.row()).status == "reconnect"
    assert not await rig.accepted(fresh)  # the simulator revoked the whole family


async def test_identity_provider_5xx_leaves_the_link_intact(rig: Rig) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=5)
    before = await rig.row()
    await rig.sim.post("/_sim/faults", json={"path": TOKEN_PATH, "kind": "error", "status": 503})

    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)

    assert failure.value.code == "idp_unavailable"
    assert "unavailable" in failure.value.message and "Try again" in failure.value.message
    after = await rig.row()
    assert (after.status, after.version) == ("active", before.version)
    assert after.refresh_token_enc == before.refresh_token_enc
    await rig.sim.delete("/_sim/faults")
    token = await vault.access_token(rig.caller)
    assert token != issued["access_token"] and await rig.accepted(token)


async def test_identity_provider_down_still_serves_a_token_that_has_not_expired(rig: Rig) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=60)  # inside the margin, but good for another minute
    await rig.sim.post("/_sim/faults", json={"path": TOKEN_PATH, "kind": "error", "status": 502})

    assert await vault.access_token(rig.caller) == issued["access_token"]
    assert (await rig.row()).status == "active"


async def test_a_refused_client_secret_is_an_admin_problem_and_leaves_the_link_intact(rig: Rig) -> None:
    vault = rig.vault()
    await rig.link(vault, expires_in=5)
    async with rig.sessions() as db:
        idp = await db.scalar(select(IdentityProvider))
        assert idp is not None
        idp.client_secret_enc = rig.keyring.encrypt(
            "not-the-secret", aad=column_aad("identity_providers", "client_secret_enc", idp.id)
        )
        await db.commit()

    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)

    assert failure.value.code == "idp_misconfigured"
    assert "admin" in failure.value.message and "not-the-secret" not in failure.value.message
    assert (await rig.row()).status == "active"


async def test_no_link_asks_to_sign_in(rig: Rig) -> None:
    with pytest.raises(ToolFailure) as failure:
        await rig.vault().access_token(rig.caller)
    assert failure.value.code == "reconnect_required"


# -- upstream_rejected --------------------------------------------------------------------------------------------


async def test_upstream_rejection_marks_reconnect(rig: Rig) -> None:
    vault = rig.vault()
    await rig.link(vault, expires_in=3600)
    await vault.access_token(rig.caller)

    assert await vault.upstream_rejected(rig.caller) is None  # the row holds the refused token: nothing to retry

    assert (await rig.row()).status == "reconnect"
    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)
    assert failure.value.code == "reconnect_required"


async def test_upstream_rejection_of_a_replaced_token_does_not_mark_reconnect(rig: Rig) -> None:
    vault = rig.vault()
    await rig.link(vault, expires_in=3600)
    await vault.access_token(rig.caller)  # this task is given version 1
    signed_in_again = await rig.link(rig.vault(separate_engine=True), expires_in=3600)  # version 2, elsewhere

    newer = await vault.upstream_rejected(rig.caller)  # Jira refused version 1

    assert newer == signed_in_again["access_token"]  # the row's token, to send the refused call once more
    assert (await rig.row()).status == "active"
    assert await vault.access_token(rig.caller) == signed_in_again["access_token"]
    assert await vault.upstream_rejected(rig.caller) is None  # now the row's own token is refused: marked
    assert (await rig.row()).status == "reconnect"


# -- at rest ------------------------------------------------------------------------------------------------------


async def test_tokens_are_never_stored_in_clear(rig: Rig, sqlite_url: str) -> None:
    vault = rig.vault()
    issued = await rig.link(vault, expires_in=60)
    refreshed = await vault.access_token(rig.caller)
    link = await rig.row()
    secrets = [issued["access_token"], issued["refresh_token"], refreshed, rig.open(link, "refresh_token_enc")]
    await rig.engine.dispose()  # checkpoint-free: the WAL file is read along with the database

    data = _database_bytes(Path(sqlite_url.removeprefix("sqlite+aiosqlite:///")))
    assert link.access_token_enc.encode() in data  # the right file: the sealed value is there
    assert b"policyarc-demo-secret" not in data
    for secret in secrets:
        assert secret.encode() not in data


def _database_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log (whatever has not been checkpointed yet)."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())
