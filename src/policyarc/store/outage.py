"""Telling "the database is unreachable" (answer 503, retry later) from a bug (a traceback) where errors surface.

A lost database reaches the gateway in several shapes: SQLAlchemy's `OperationalError` (SQLite cannot open or
lock its file; a refused or timed-out PostgreSQL connect, which `engine.create_engine` raises as one) or
`InterfaceError` (asyncpg's connection dropped mid-query), a `DBAPIError` that invalidated its connection, the
pool's `TimeoutError`, and asyncpg's connection errors (server starting up, too many connections) behind a
generic `DBAPIError`. Anything else from the database (a constraint, a bad statement) is a bug, not an outage.
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its exception classes are used
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

__all__ = ["RETRY_AFTER", "database_label", "describe_outage", "is_database_unreachable"]

# What a 503 tells clients to wait (RFC 9110 section 10.2.3): a database restart or fail-over takes seconds.
RETRY_AFTER = 5

_UNREACHABLE: tuple[type[BaseException], ...] = (
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection freed up in time
    sa_exc.DisconnectionError,
    asyncpg.PostgresConnectionError,  # includes CannotConnectNowError: the server is starting up or shutting down
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)
# sqlite3.OperationalError also names mistakes in a statement; those are bugs, not outages.
_SQLITE_STATEMENT_ERRORS = ("no such ", "near ", "syntax error")
_MAX_CHAIN = 8


def is_database_unreachable(exc: BaseException) -> bool:
    """Does `exc`, or an error it was raised from, say the database cannot be reached right now?"""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < _MAX_CHAIN:
        if _unreachable(current):
            return True
        seen += 1
        current = current.__cause__ or current.__context__
    return False


def describe_outage(exc: BaseException) -> str:
    """One line for a log or the console: the driver's own words, without SQLAlchemy's statement dump."""
    origin: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        origin = exc.orig.__cause__ or exc.orig
    text = " ".join(str(origin).split())[:200]
    return f"{type(origin).__name__}: {text}" if text else type(origin).__name__


def database_label(url: str) -> str:
    """The database URL as it can be shown: the password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, _UNREACHABLE):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sqlite3.OperationalError):
        origin = exc.orig if isinstance(exc, sa_exc.OperationalError) else exc
        return not (isinstance(origin, sqlite3.OperationalError) and str(origin).startswith(_SQLITE_STATEMENT_ERRORS))
    return False
