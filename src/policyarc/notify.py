"""Change notifications between gateway instances that share one database: a revoked token, a policy or a
connector changed elsewhere reaches every instance at once, rather than when its cache ages out or its poll ticks.

    feed = change_feed(settings.database_url, engine)   # PostgresFeed, or SqliteFeed
    feed.subscribe("token_revoked", lambda token_hash: resolver.forget([token_hash]))
    feed.on_resync(policy_watcher.reload)               # after a (re)connect: what was missed meanwhile
    await feed.start()                                  # in the lifespan
    await feed.publish("policy", environment_id)        # after the change is committed
    await feed.aclose()

A message is `kind:key` on one channel (`CHANNEL`): `token_revoked:<token hash>` (the SHA-256 hash the database
keeps, never the token), `policy:<environment id>`, `environment:<environment id>`, `connector:<environment id>`,
`access:<environment id>` (people or clients revoked in the console: every cached caller and Atlassian token is
dropped), `link:<user id>` (a user's Atlassian link changed: a sign-in, a reconnect mark).
Every instance receives its own messages too; handlers are idempotent (a forget, a reload), so that costs one
extra reload on the instance that made the change.

On PostgreSQL (`PostgresFeed`): `LISTEN` on one asyncpg connection per instance, opened outside the engine's pool
so that it never holds a pooled connection; `NOTIFY` (`pg_notify`) through the engine. A dropped listening
connection (server restart, network) is noticed by asyncpg's termination callback or, for a connection that went
silent, by a `SELECT 1` every `keepalive` seconds; it is reopened with exponential backoff, and after every
(re)connect the `on_resync` handlers run, because notifications sent while no one listened are gone (PostgreSQL
keeps none for a session that was not listening). The polling that existed before stays as the safety net: the
token cache's 5 s bound, the policy watcher's and the connector directory's ticks.

While a feed is `live`, every revocation and link change reaches this process as it happens, so the token
resolver and the vault trust their entries for their long bounds (minutes) rather than the short ones (seconds)
that bound how stale they may be without it; a feed that stops being live puts the short bounds back at once, and
its resync (every cache dropped) runs before it is trusted again.

On SQLite (`SqliteFeed`) every process shares one file on one host and there is no channel: a change is delivered
to the publishing process's own subscribers, and polling alone keeps other processes in step. It is live while
this process is the only server of the file (`sole_server.py`).

`ChangeFeed` is the Protocol both implement, so Redis pub/sub, say, could replace PostgreSQL without touching the
publishers or the subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # no stubs; used through a few calls typed here
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.periodic import Periodic
from policyarc.sole_server import SoleServer
from policyarc.store.engine import is_sqlite, sqlite_path

__all__ = [
    "CHANNEL",
    "AdminChangePublisher",
    "ChangeFeed",
    "PostgresFeed",
    "RevocationPublisher",
    "SqliteFeed",
    "change_feed",
]

logger = logging.getLogger(__name__)

CHANNEL = "policyarc_changes"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; ours are a kind and a hash or an id.
_MAX_PAYLOAD = 7999

Handler = Callable[[str], object]  # called with the key; may return an awaitable, which is run as a task
Resync = Callable[[], object]  # called after a (re)connect; may return an awaitable
Connect = Callable[[str], Awaitable[Any]]  # asyncpg.connect, or a test's


class ChangeFeed(Protocol):
    """What publishers and subscribers see of the channel between instances."""

    @property
    def live(self) -> bool:
        """True while notifications are being received (the polling is then only the safety net)."""
        ...

    def subscribe(self, kind: str, handler: Handler) -> None: ...

    def on_resync(self, handler: Resync) -> None: ...

    async def publish(self, kind: str, keys: str | Iterable[str]) -> None: ...

    def publish_soon(self, kind: str, keys: Iterable[str]) -> None:
        """`publish` from synchronous code: runs as a task of the feed (awaited by `aclose`)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class _Dispatch:
    """Handlers by kind, and the tasks they started (kept referenced until done, awaited at close)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._resyncs: list[Resync] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def subscribe(self, kind: str, handler: Handler) -> None:
        if ":" in kind:
            raise ValueError(f"a kind cannot contain ':' ({kind!r})")
        self._handlers[kind].append(handler)

    def on_resync(self, handler: Resync) -> None:
        self._resyncs.append(handler)

    def deliver(self, payload: str) -> None:
        kind, sep, key = payload.partition(":")
        if not sep:
            logger.warning("ignored a change notification without a kind: %.60r", payload)
            return
        for handler in self._handlers.get(kind, ()):
            self._run(handler, key, what=kind)

    def resync(self) -> None:
        for handler in self._resyncs:
            self._run(handler, what="resync")

    def spawn(self, work: Awaitable[Any], what: str) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, what))

    def _run(self, handler: Callable[..., object], *args: str, what: str) -> None:
        try:
            result = handler(*args)
        except Exception:
            logger.exception("handling a %s change notification failed; polling will catch up", what)
            return
        if inspect.isawaitable(result):
            self.spawn(result, what)

    def _finished(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a %s change notification failed; polling will catch up", what, exc_info=task.exception())

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class _Subscriptions:
    """What both feeds share: their handlers (`_Dispatch`) and whether they are live."""

    def __init__(self) -> None:
        self._dispatch = _Dispatch()
        self._live = False

    @property
    def live(self) -> bool:
        return self._live

    def subscribe(self, kind: str, handler: Handler) -> None:
        self._dispatch.subscribe(kind, handler)

    def on_resync(self, handler: Resync) -> None:
        self._dispatch.on_resync(handler)


class SqliteFeed(_Subscriptions):
    """SQLite, one host, no channel between processes: a change published here is delivered to this process's own
    subscribers only, and the polling keeps other processes in step, as before.

    `live` says whether that is enough: it is True while this process is the only server of the database file
    (`sole_server.py`, checked every `interval` seconds), since then every change is made here and delivered here.
    A second server appearing turns it False within `interval`; when this process is alone again, the `on_resync`
    handlers run first (what the other one changed meanwhile was never delivered here). An in-memory database
    cannot be shared between processes: always live.
    """

    def __init__(self, database: Path | None, *, interval: float = 0.25) -> None:
        super().__init__()
        self._sole = SoleServer(database) if database is not None else None
        self._watcher = Periodic(
            self._check_company,
            interval=interval,
            name="policyarc-sqlite-feed",
            failure="change feed: checking for other servers of the SQLite database failed",
            logger=logger,
            run_first=False,
        )
        self._watching = False

    async def publish(self, kind: str, keys: str | Iterable[str]) -> None:
        self.publish_soon(kind, [keys] if isinstance(keys, str) else keys)

    def publish_soon(self, kind: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._dispatch.deliver(f"{kind}:{key}")

    async def start(self) -> None:
        if self._sole is None:
            self._live = True
            return
        if self._watching:
            return
        self._sole.enter()
        self._live = self._sole.alone()
        self._watcher.start()
        self._watching = True

    async def aclose(self) -> None:
        await self._watcher.aclose()
        self._watching = False
        self._live = False
        if self._sole is not None:
            self._sole.exit()
        await self._dispatch.drain()

    async def _check_company(self) -> None:
        assert self._sole is not None
        alone = self._sole.alone()
        if alone and not self._live:
            logger.info("change feed: now the only server of the SQLite database; caches trust pushes again")
            self._dispatch.resync()
        elif self._live and not alone:
            logger.info("change feed: another server shares the SQLite database; caches use their short bounds")
        self._live = alone


class PostgresFeed(_Subscriptions):
    """`LISTEN`/`NOTIFY` on `CHANNEL`: one listening connection per instance, reopened with backoff when lost."""

    def __init__(
        self,
        dsn: str,
        engine: AsyncEngine,
        *,
        connect: Connect | None = None,
        keepalive: float = 5.0,
        backoff: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        """`dsn` is asyncpg's (`postgresql://...`); `backoff` is (first delay, longest delay) between attempts."""
        super().__init__()
        self._dsn = dsn
        self._engine = engine
        self._connect: Connect = connect or _connect
        self._keepalive = keepalive
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self.connects = 0  # successful (re)connects, for tests and logs

    async def publish(self, kind: str, keys: str | Iterable[str]) -> None:
        """Send `kind:key` for each key, after the change is committed (a receiver re-reads the database at once).

        A failure is logged, not raised: the change is committed, and the other instances' polling picks it up.
        """
        payloads = [f"{kind}:{key}" for key in _keys(keys)]
        for payload in payloads:
            if len(payload.encode()) > _MAX_PAYLOAD:
                raise ValueError(f"notification payload too long ({len(payload)} characters)")
        if not payloads:
            return
        try:
            async with self._engine.begin() as conn:  # one transaction: delivered together, at commit
                for payload in payloads:
                    await conn.execute(
                        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
                    )
        except Exception:
            logger.warning(
                "could not publish %d %s change(s); other instances will poll", len(payloads), kind, exc_info=True
            )

    def publish_soon(self, kind: str, keys: Iterable[str]) -> None:
        self._dispatch.spawn(self.publish(kind, list(keys)), f"publishing {kind}")

    async def start(self) -> None:
        """Start listening in the background; returns at once (the instance serves whether or not the channel is up)."""
        if self._task is not None:
            raise RuntimeError("PostgresFeed already started")
        self._task = asyncio.create_task(self._run(), name="policyarc-change-feed")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._dispatch.drain()

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                await self._listen_once()
                delay = self._backoff[0]  # it worked for a while: the next drop starts the backoff over
            except Exception as exc:  # whatever ended this connection, the feed must go on trying
                logger.warning(
                    "change feed: no listening connection (%s); polling only, retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _listen_once(self) -> None:
        """One listening connection, until it is lost (returns or raises)."""
        lost = asyncio.Event()
        conn = await self._connect(self._dsn)
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._received)
            self._live = True
            self.connects += 1
            # Anything committed while no one listened was not pushed to us: re-read it once.
            self._dispatch.resync()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._keepalive)
                if not lost.is_set():  # quiet: is the connection still there, or silently gone?
                    await conn.fetchval("SELECT 1", timeout=self._keepalive)
            logger.warning("change feed: the listening connection was closed; reconnecting")
        finally:
            self._live = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)

    def _received(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self._dispatch.deliver(payload)


class RevocationPublisher:
    """`oauth.provider.RevocationListener`: tells the other instances which access tokens were just revoked."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed

    def forget(self, token_hashes: Collection[str]) -> None:
        self._feed.publish_soon("token_revoked", token_hashes)


class AdminChangePublisher:
    """`api.ChangeListener`: an admin change committed here (policy, environment, connector, IdP) is announced."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed

    async def changed(self, what: str, environment_id: str) -> None:
        await self._feed.publish(what, environment_id)


def change_feed(database_url: str, engine: AsyncEngine) -> ChangeFeed:
    """The feed for this database: `PostgresFeed` on PostgreSQL, `SqliteFeed` on SQLite."""
    if is_sqlite(database_url):
        return SqliteFeed(sqlite_path(database_url))
    url = make_url(database_url).set(drivername="postgresql")
    return PostgresFeed(url.render_as_string(hide_password=False), engine)


async def _connect(dsn: str) -> Any:
    return await asyncpg.connect(dsn, timeout=5)


def _keys(keys: str | Iterable[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)
