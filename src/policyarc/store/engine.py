"""Async engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

Created in the app's lifespan and passed down; there is no module-level engine.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

__all__ = ["create_engine", "is_sqlite", "session_factory", "sqlite_path", "tighten_directory"]

logger = logging.getLogger(__name__)

# asyncpg waits 60 s for a connection by default; a request should learn sooner that the database is gone.
PG_CONNECT_TIMEOUT = 10.0

# Applied on every new SQLite connection. WAL lets readers run beside the writer; foreign keys are off by
# default in SQLite; busy_timeout makes a writer wait for the lock instead of failing at once; synchronous=NORMAL
# is durable in WAL mode except for the last commits on power loss, and much faster than FULL.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


def create_engine(url: str | URL, *, echo: bool = False, **engine_kwargs: Any) -> AsyncEngine:
    """An `AsyncEngine` for `sqlite+aiosqlite://` or `postgresql+asyncpg://` URLs.

    For a SQLite file the parent directory is created (mode 0700) and the file itself before SQLite opens it,
    mode 0600 (an existing looser one is tightened): SQLite gives its -wal and -shm files the mode of the
    database file. An in-memory SQLite URL shares one connection, so every session sees the same database.
    Extra keyword arguments go to `create_async_engine` (pool sizes, `poolclass`, ...).
    """
    parsed = make_url(url)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database driver {parsed.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
        )
    if is_sqlite(parsed):
        path = sqlite_path(parsed)
        if path is None:
            engine_kwargs.setdefault("poolclass", StaticPool)
        else:
            _private_sqlite_file(path)
    else:
        # Connections idle behind a load balancer or across a database restart are found dead before use.
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine_kwargs["connect_args"] = {"timeout": PG_CONNECT_TIMEOUT, **engine_kwargs.get("connect_args", {})}
    engine = create_async_engine(parsed, echo=echo, **engine_kwargs)
    if is_sqlite(parsed):
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    else:
        event.listen(engine.sync_engine, "do_connect", _unreachable_as_operational_error)
    return engine


def tighten_directory(path: Path) -> None:
    """Take group and other access away from an existing directory (mode 0700), logging one line when it
    had them. A missing one is left alone: whoever needs it (the key ring, a SQLite engine) creates it 0700.

    Only for directories the gateway owns (its data directory): never for the parent of an arbitrary file.
    """
    if path.is_dir():
        _tighten(path, 0o700, what="data directory")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no implicit reload after the transaction ends)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def _private_sqlite_file(path: Path) -> None:
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created here, not by SQLite (which uses 0644 less the umask); O_CREAT leaves an existing file's content.
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _tighten(file, 0o600, what="database file")


def _tighten(path: Path, mode: int, *, what: str) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        path.chmod(current & ~0o077 | mode)
        logger.warning("%s %s had mode %04o; tightened to %04o", what, path, current, stat.S_IMODE(path.stat().st_mode))


def _unreachable_as_operational_error(
    dialect: Any, connection_record: ConnectionPoolEntry, cargs: Any, cparams: Any
) -> Any:
    """asyncpg reports a refused or timed-out connect as a bare OSError, which SQLAlchemy passes through
    unwrapped; raised as the driver's OperationalError it arrives as `sqlalchemy.exc.OperationalError` like
    every other sign that the database is unreachable (store/outage.py)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:  # TimeoutError included
        raise dialect.loaded_dbapi.OperationalError(f"cannot connect to PostgreSQL: {exc}", exc) from exc


def _sqlite_on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
