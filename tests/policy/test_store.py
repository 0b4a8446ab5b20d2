"""Policy from the database into each instance's registry: a set on one instance applies there at once and on
another within one watcher interval; decisions follow the new version, never the old cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.policy import DEFAULT_POLICY, PolicyRegistry
from policyarc.policy.store import DEFAULT_INTERVAL, PolicyGate, PolicyWatcher, load_policies
from policyarc.services import create_environment, ensure_environment, gateway_scopes, set_policy
from policyarc.store import session_factory
from policyarc.store.models import Environment, Policy

READ, WRITE = "jira:issues:read", "jira:issues:write"
WRITE_POLICY = DEFAULT_POLICY + f'\npermit (principal, action, resource == PolicyArc::Scope::"{WRITE}");\n'
FORBID_ALL = f'forbid (principal, action, resource == PolicyArc::Scope::"{READ}");\n' + DEFAULT_POLICY


class Ticks:
    """An injected sleep: the watcher's loop waits here until the test lets one tick through."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.entered: asyncio.Queue[None] = asyncio.Queue()
        self.release: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.entered.put_nowait(None)
        await self.release.get()

    async def tick(self) -> None:
        """Let the loop run one reload and wait until it is sleeping again (the reload is done)."""
        self.release.put_nowait(None)
        await asyncio.wait_for(self.entered.get(), timeout=5)


@dataclass
class Instance:
    registry: PolicyRegistry
    watcher: PolicyWatcher
    gate: PolicyGate
    ticks: Ticks


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def environment_id(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        environment = await ensure_environment(session)
        await session.commit()
        return environment.id


@pytest.fixture
async def instances(
    sessions: async_sessionmaker[AsyncSession], environment_id: str
) -> AsyncIterator[tuple[Instance, Instance]]:
    built = []
    for _ in range(2):
        registry = PolicyRegistry(gateway_scopes())
        ticks = Ticks()
        watcher = PolicyWatcher(sessions, registry, sleep=ticks.sleep)
        built.append(Instance(registry, watcher, PolicyGate(registry), ticks))
    try:
        for instance in built:
            await instance.watcher.start()
            await asyncio.wait_for(instance.ticks.entered.get(), timeout=5)  # loaded, now sleeping
        yield built[0], built[1]
    finally:
        for instance in built:
            await instance.watcher.aclose()


def caller(environment_id: str) -> Caller:
    return Caller(
        user_id="u1",
        email="alice@example.com",
        account_id="acc",
        client_id="c1",
        client_name="Claude",
        environment_id=environment_id,
        scopes=frozenset({READ, WRITE}),
        expires_at=0.0,
    )


async def save(sessions: async_sessionmaker[AsyncSession], text: str) -> int:
    async with sessions() as session:
        environment = await ensure_environment(session)
        view = await set_policy(session, environment, text, scopes=gateway_scopes(), actor="test")
        return view.version


async def test_start_loads_the_stored_policy(instances: tuple[Instance, Instance], environment_id: str) -> None:
    a, _ = instances
    assert a.gate.version(environment_id) == 1
    assert a.gate.allowed(caller(environment_id), READ)
    assert not a.gate.allowed(caller(environment_id), WRITE)
    assert a.gate.allowed_scopes(caller(environment_id), [READ, WRITE]) == {READ}


async def test_a_set_applies_at_once_locally_and_within_one_interval_elsewhere(
    sessions: async_sessionmaker[AsyncSession], instances: tuple[Instance, Instance], environment_id: str
) -> None:
    a, b = instances
    who = caller(environment_id)
    assert a.gate.allowed(who, READ) and b.gate.allowed(who, READ)  # warm both caches
    assert await save(sessions, FORBID_ALL) == 2
    await a.watcher.changed("policy", environment_id)  # what the admin API does after the commit
    assert not a.gate.allowed(who, READ)  # the saving instance denies at once
    assert b.gate.allowed(who, READ)  # the other one has not ticked yet: its cached decision stands
    await b.ticks.tick()  # one interval later
    assert not b.gate.allowed(who, READ)
    assert b.gate.version(environment_id) == 2
    assert b.ticks.asked and set(b.ticks.asked) == {DEFAULT_INTERVAL}  # the bound is the documented interval


async def test_a_tick_with_nothing_new_keeps_the_engine_and_its_cache(
    instances: tuple[Instance, Instance], environment_id: str
) -> None:
    a, _ = instances
    engine = a.registry.get(environment_id)
    a.gate.allowed(caller(environment_id), READ)
    await a.ticks.tick()
    assert a.registry.get(environment_id) is engine and engine.cached_decisions == 1


async def test_new_and_deleted_environments_are_picked_up(
    sessions: async_sessionmaker[AsyncSession], instances: tuple[Instance, Instance], environment_id: str
) -> None:
    _, b = instances
    async with sessions() as session:
        staging = await create_environment(session, "staging", actor="test")
        await session.commit()
    await b.ticks.tick()
    assert b.gate.allowed(caller(staging.id), READ)
    async with sessions() as session:
        await session.execute(delete(Environment).where(Environment.id == staging.id))
        await session.commit()
    await b.ticks.tick()
    assert not b.gate.allowed(caller(staging.id), READ)  # refused: no policy for a deleted environment
    assert b.gate.allowed(caller(environment_id), READ)


async def test_a_failed_reload_keeps_the_policy_and_the_loop_alive(
    sessions: async_sessionmaker[AsyncSession],
    instances: tuple[Instance, Instance],
    environment_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, b = instances
    calls = 0
    real = b.watcher.reload

    async def broken() -> list[str]:
        nonlocal calls
        calls += 1
        raise OSError("database went away")

    monkeypatch.setattr(b.watcher, "reload", broken)
    await b.ticks.tick()
    assert calls == 1 and b.gate.allowed(caller(environment_id), READ)
    monkeypatch.setattr(b.watcher, "reload", real)
    await save(sessions, FORBID_ALL)
    await b.ticks.tick()
    assert not b.gate.allowed(caller(environment_id), READ)


async def test_a_stored_version_that_no_longer_validates_is_skipped(
    sessions: async_sessionmaker[AsyncSession], environment_id: str
) -> None:
    registry = PolicyRegistry(gateway_scopes())
    async with sessions() as session:
        assert await load_policies(session, registry) == [environment_id]
        # written behind the API's back (or valid against a scope registry this build no longer has)
        session.add(Policy(environment_id=environment_id, version=2, text="permit (", created_by="x"))
        await session.commit()
        assert await load_policies(session, registry) == []
    assert registry.version(environment_id) == 1


async def test_concurrent_reloads_install_once(sessions: async_sessionmaker[AsyncSession], environment_id: str) -> None:
    registry = PolicyRegistry(gateway_scopes())
    watcher = PolicyWatcher(sessions, registry)
    results = await asyncio.gather(*(watcher.reload() for _ in range(5)))
    assert sorted(len(changed) for changed in results) == [0, 0, 0, 0, 1]


def test_interval_must_be_positive(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ValueError, match="positive"):
        PolicyWatcher(sessions, PolicyRegistry(gateway_scopes()), interval=0)


async def test_a_reload_failing_for_a_database_outage_logs_one_line(
    instances: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import exc as sa_exc

    _, b = instances

    async def unreachable() -> list[str]:
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed"))

    monkeypatch.setattr(b.watcher, "reload", unreachable)
    with caplog.at_level(logging.WARNING, logger="policyarc.policy.store"):
        await b.ticks.tick()
    records = [r for r in caplog.records if r.name == "policyarc.policy.store"]
    assert len(records) == 1
    assert "ConnectionRefusedError" in records[0].getMessage()
    assert records[0].exc_info is None
