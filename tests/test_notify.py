"""notify.py: change notifications between instances over PostgreSQL LISTEN/NOTIFY (on a throwaway database),
the reconnect after a dropped listening connection, and SQLite's SqliteFeed (this process only; live while alone)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.notify import AdminChangePublisher, PostgresFeed, RevocationPublisher, SqliteFeed, change_feed
from policyarc.sole_server import SoleServer
from policyarc.store import create_engine


async def _started(pg_url: str, engine: AsyncEngine) -> PostgresFeed:
    feed = change_feed(pg_url, engine)
    assert isinstance(feed, PostgresFeed)
    return feed


async def _until(condition: object, what: str) -> None:
    for _ in range(100):  # bounded: about 10 s
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within 100 polls: {what}")


async def test_a_change_published_by_one_instance_reaches_the_other(pg_url: str, pg_engine: AsyncEngine) -> None:
    one, two = await _started(pg_url, pg_engine), await _started(pg_url, pg_engine)
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    two.subscribe("token_revoked", lambda key: heard.put_nowait(("token_revoked", key)))

    async def reload(key: str) -> None:  # an async handler runs as a task of the feed
        heard.put_nowait(("policy", key))

    two.subscribe("policy", reload)
    await one.start()
    await two.start()
    try:
        await _until(lambda: one.live and two.live, "both feeds listening")
        RevocationPublisher(one).forget(["a" * 64, "b" * 64])
        await AdminChangePublisher(one).changed("policy", "env-1")
        await AdminChangePublisher(one).changed("idp", "env-1")  # no subscriber: ignored
        got = [await asyncio.wait_for(heard.get(), 5) for _ in range(3)]
    finally:
        await one.aclose()
        await two.aclose()
    assert sorted(got) == [("policy", "env-1"), ("token_revoked", "a" * 64), ("token_revoked", "b" * 64)]
    assert heard.empty()


async def test_a_dropped_listening_connection_is_reopened_and_resyncs(pg_url: str, pg_engine: AsyncEngine) -> None:
    dsn = pg_url.replace("postgresql+asyncpg", "postgresql")
    feed = PostgresFeed(dsn, pg_engine, backoff=(0.05, 0.2))  # a test need not wait out the production backoff
    resyncs: list[int] = []
    heard: list[str] = []
    feed.on_resync(lambda: resyncs.append(feed.connects))
    feed.subscribe("connector", heard.append)
    await feed.start()
    try:
        await _until(lambda: feed.live, "listening")
        assert resyncs == [1]
        # The server ends the listening session (as a restart or a network cut would).
        admin = await asyncpg.connect(dsn)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert ended == 1
        await _until(lambda: feed.connects == 2 and feed.live, "listening again")
        assert resyncs == [1, 2]  # what was announced while no one listened is re-read
        await feed.publish("connector", "env-2")
        await _until(lambda: heard == ["env-2"], "a notification over the new connection")
    finally:
        await feed.aclose()
    assert not feed.live


async def test_an_unreachable_server_leaves_the_feed_retrying_not_failing(pg_engine: AsyncEngine) -> None:
    attempts: list[str] = []

    async def refused(dsn: str) -> object:
        attempts.append(dsn)
        raise ConnectionRefusedError("no server")

    feed = PostgresFeed("postgresql://nobody@127.0.0.1:1/none", pg_engine, connect=refused, backoff=(0.01, 0.02))
    await feed.start()
    try:
        await _until(lambda: len(attempts) >= 3, "three attempts")
        assert not feed.live
    finally:
        await feed.aclose()


async def test_on_sqlite_a_change_is_delivered_to_this_process_and_a_lone_server_is_live(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    engine = create_engine(url)
    try:
        feed = change_feed(url, engine)
        assert isinstance(feed, SqliteFeed)
        heard: list[str] = []
        feed.subscribe("policy", heard.append)
        await feed.start()
        await feed.publish("policy", "env-1")
        await AdminChangePublisher(feed).changed("policy", "env-2")
        assert heard == ["env-1", "env-2"]
        assert feed.live  # the only server of its file: every change is made, and heard, here
        await feed.aclose()
        assert not feed.live
    finally:
        await engine.dispose()


async def test_a_second_server_on_the_sqlite_file_ends_the_trust_and_its_exit_resyncs(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    one, two = SqliteFeed(database, interval=0.02), SqliteFeed(database, interval=0.02)
    resyncs: list[str] = []
    one.on_resync(lambda: resyncs.append("one"))
    await one.start()
    try:
        assert one.live
        await two.start()  # `policyarc serve` again on the same file, or a second worker
        assert not two.live
        await _until(lambda: not one.live, "the first server sees the second")
        assert resyncs == []

        await two.aclose()

        await _until(lambda: one.live, "alone again")
        assert resyncs == ["one"]  # what the other one changed meanwhile was never delivered here
    finally:
        await one.aclose()
        await two.aclose()


def test_a_server_that_died_leaves_no_lasting_company(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    script = (
        "import pathlib, sys, time\n"
        "from policyarc.sole_server import SoleServer\n"
        "SoleServer(pathlib.Path(sys.argv[1])).enter()\n"
        "print('in', flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-c", script, str(database)], stdout=subprocess.PIPE
    ) as process:
        try:
            assert process.stdout is not None and process.stdout.readline() == b"in\n"
            me = SoleServer(database)
            me.enter()
            assert not me.alone()  # the other process is alive and holds its lock
            process.kill()  # SIGKILL: no clean-up of its own; the kernel drops its lock
            process.wait(timeout=10)

            assert me.alone()
            assert [path.name for path in (tmp_path / "x.db.servers").iterdir()] == [me._name]  # its file is gone
            me.exit()
        finally:
            process.kill()


async def test_an_in_memory_sqlite_database_cannot_be_shared_so_its_feed_is_live() -> None:
    feed = SqliteFeed(None)
    await feed.start()
    assert feed.live
    await feed.aclose()


class SilentConnection:
    """A listening connection that went quiet without closing (a half-open TCP connection): `SELECT 1` fails."""

    def __init__(self) -> None:
        self.closed = False

    def add_termination_listener(self, callback: object) -> None:
        return None

    async def add_listener(self, channel: str, callback: object) -> None:
        return None

    async def fetchval(self, query: str, **options: float) -> int:  # asyncpg passes `timeout`
        raise TimeoutError("no answer")

    async def close(self) -> None:
        self.closed = True


async def test_a_silent_listening_connection_is_found_out_by_the_keepalive_and_replaced(
    pg_engine: AsyncEngine,
) -> None:
    opened: list[SilentConnection] = []

    async def connect(dsn: str) -> SilentConnection:
        opened.append(SilentConnection())
        return opened[-1]

    feed = PostgresFeed("postgresql://unused", pg_engine, connect=connect, keepalive=0.01, backoff=(0.01, 0.02))
    resyncs: list[int] = []
    feed.on_resync(lambda: resyncs.append(len(opened)))
    await feed.start()
    try:
        await _until(lambda: len(opened) >= 3, "two replacements")
    finally:
        await feed.aclose()
    assert all(conn.closed for conn in opened[:-1])  # each silent one closed before the next was opened
    assert resyncs[:3] == [1, 2, 3]  # and each new one re-reads what may have been missed
