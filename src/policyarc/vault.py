"""The token vault: each user's Atlassian tokens, encrypted at rest, handed to the tool pipeline fresh.

`TokenVault` implements `mcp_endpoint.UpstreamTokenSource` over the `upstream_links` table. Tokens are sealed
with the key ring, bound to their row and column (`column_aad("upstream_links", column, link.id)`), so a
ciphertext copied into another user's row does not decrypt.

The hot path, a token still valid for more than `margin` seconds, is a dict look-up: no database round trip and
no decryption. Near expiry the token is refreshed, **single-flight**:

- across tasks in one process: an `asyncio.Lock` per user around the row read (a task that waited re-checks the
  cache first), and at most one refresh task per user (see "A slow token endpoint");
- across processes: the refresh runs inside a transaction that locks the link row (PostgreSQL
  `SELECT ... FOR UPDATE`; SQLite `BEGIN IMMEDIATE`, which takes the database's write lock) and re-reads it:
  when another instance refreshed while we waited, its token is used and no request reaches Atlassian.

Atlassian rotates refresh tokens, so the new pair is **committed before the new access token is used**: a crash
after the commit loses nothing, and a crash before it leaves the old refresh token, which Atlassian honours for a
10-minute leeway after rotation.

A slow token endpoint. The refresh runs in a task of its own (`_Flight`), one per user per process, which owns the
rotation to the end: callers wait for it at most `refresh_timeout` (default 4 s) and then stop waiting, but the task
goes on (bounded by `refresh_deadline`, default 60 s) and stores the pair Atlassian sends late. While it runs no other
refresh starts here: callers whose current token still has more than MIN_USABLE seconds get it at once, the others
wait for the same task, bounded by their own timeout, and are then told Atlassian is slow (`idp_unavailable`, "try
again"), never to sign in again. The row lock is held while waiting for Atlassian only up to `refresh_timeout`, below
SQLite's 5 s busy timeout (there the lock is the whole database's): past it the transaction is rolled back, and the
late answer is stored in a second short locked transaction, only if the row still has the version the refresh read
(a sign-in or another instance's refresh that landed meanwhile wins; our pair is dropped unused, which leaves the
token family intact). So another instance may start its own grant once the lock is released: at most one per
instance, rather than one per queued call.

Multi-instance story. Every change to a link (refresh, new sign-in, reconnect) bumps its `version`. The cache holds
(version, token, expiry) per user and is trusted for a bound; after that the next call reads the row (one indexed
query, no decryption unless the version moved), so a sign-in, a refresh or a reconnect made on another instance
reaches this one within that bound, and `recheck_after=0` makes it exact at one query per call. The bound is
`pushed_recheck_after` (default 300 s) while link changes reach this process as they happen (`changes.live`, the
change feed: this vault announces `link:<user id>` after a sign-in or a reconnect mark, and every instance's vault
forgets that user), `recheck_after` (default 30 s) while they do not; each user's share is between half and all of
it (`stagger.py`), so users cached together are not re-read together. Inside the bound an instance may use an
access token older than the row's: harmless, because a refresh on Atlassian does not revoke earlier access tokens
(they live out their hour), which is also why a refresh is not announced. A token Atlassian refuses makes Jira
answer 401 and the pipeline call `upstream_rejected`, which marks the link for reconnect only if the row still holds
the version this task was given (`UPDATE ... WHERE version = :served`): a 401 on a token the row has already replaced
(the user signed in again, another instance refreshed) re-reads the row and returns its token, and the pipeline sends
the call once more with it instead of telling a user who just signed in to sign in again.

Refresh outcomes: `invalid_grant` (GrantRevoked; also Atlassian's answer to a rotated refresh token reused after the
leeway, which revokes the whole family) marks the link `reconnect` and raises `ToolFailure("reconnect_required")`;
a link already marked fails fast the same way. Atlassian unreachable or answering 5xx leaves the link untouched and,
unless the current access token is still usable, raises `ToolFailure("idp_unavailable")`.

The Atlassian app (client id, secret) comes from the caller's environment's `identity_providers` row, decrypted and
cached for `app_ttl` seconds. A user has one link per identity provider, so one per environment: the caller's
environment picks the link (and so the app that refreshes it), and the cache, the locks and the refreshes in flight
are all keyed by (user, environment). A refresh token is only good with the app that issued it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sqlalchemy import ScalarSelect, Select, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.connectors.base import ToolFailure
from policyarc.identity.apps import load_atlassian_app
from policyarc.identity.atlassian import AtlassianApp, AtlassianIdentity, UpstreamTokens
from policyarc.identity.errors import GrantRevoked, IdentityRejected, IdentityUnavailable
from policyarc.secrets import DecryptionError, KeyRing, column_aad
from policyarc.stagger import staggered
from policyarc.store.models import IdentityProvider, UpstreamLink, new_id

if TYPE_CHECKING:
    from policyarc.metrics import Metrics

__all__ = ["IDP_KIND", "TokenVault"]

logger = logging.getLogger(__name__)

IDP_KIND = "atlassian"
TABLE = "upstream_links"
# A token this close to expiry is still handed out when Atlassian cannot be reached to renew it.
MIN_USABLE = 10.0

RECONNECT = (
    "Your Atlassian sign-in has expired or was revoked. Sign in again (reconnect the PolicyArc MCP server in your "
    "client)."
)
NOT_LINKED = (
    "PolicyArc has no Atlassian sign-in on file for you. Sign in again (reconnect the PolicyArc MCP server in your "
    "client)."
)
UNREADABLE = (
    "PolicyArc cannot read your stored Atlassian sign-in. Sign in again (reconnect the PolicyArc MCP server in your "
    "client)."
)
UNAVAILABLE = (
    "Atlassian's sign-in service is unavailable right now, so PolicyArc could not renew your Atlassian token. "
    "Try again in a minute."
)
REJECTED = (
    "Atlassian refused PolicyArc's app credentials while renewing your token. Ask your PolicyArc admin to check the "
    "Atlassian identity provider settings."
)
SLOW = (
    "Atlassian's sign-in service is slow to answer, so PolicyArc is still renewing your Atlassian token. Try again "
    "in a few seconds."
)
VAULT_UNAVAILABLE = "PolicyArc could not save your renewed Atlassian token. Try again in a moment."
VAULT_DOWN = "PolicyArc could not read your Atlassian sign-in from its database. Try again in a moment."
NO_IDP = "This PolicyArc environment has no Atlassian identity provider set up yet. Ask your PolicyArc admin."

# Whose link: (user id, environment id). Each environment has its own identity provider, so its own link.
_Key = tuple[str, str]

# (link key, link version) of the token last handed to this task: `upstream_rejected` runs in the same task as the
# `access_token` call before it, and must mark for reconnect only the version that was actually refused.
_served: ContextVar[tuple[_Key, int] | None] = ContextVar("policyarc_vault_served", default=None)


class Clock(Protocol):
    def time(self) -> float: ...


class LinkChanges(Protocol):
    """The change feed as the vault sees it (notify.ChangeFeed): whether announcements arrive, and announcing."""

    @property
    def live(self) -> bool: ...

    def publish_soon(self, kind: str, keys: Iterable[str]) -> None: ...


class _SystemClock:
    def time(self) -> float:
        return time.time()


@dataclass(slots=True)
class _Cached:
    version: int
    access_token: str
    expires_at: float
    checked_at: float
    share: float  # this user's share of the recheck bound, in [0.5, 1) (stagger.py)


@dataclass(frozen=True, slots=True)
class _Issued:
    """A token handed out, with the link version it came from (what `upstream_rejected` compares)."""

    version: int
    access_token: str
    expires_at: float


class _Flight(NamedTuple):
    """The refresh in flight for one user in this process, and the token the row held when it began."""

    task: asyncio.Task[_Issued]
    current: _Issued | None  # None when it was too close to expiry (MIN_USABLE) to hand out


class TokenVault:
    """Per-user upstream tokens: get a valid one, refresh single-flight, store a new sign-in, mark reconnect."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        keyring: KeyRing,
        identity: AtlassianIdentity,
        clock: Clock | None = None,
        margin: float = 120.0,
        recheck_after: float = 30.0,
        pushed_recheck_after: float = 300.0,
        changes: LinkChanges | None = None,
        refresh_timeout: float = 4.0,
        refresh_deadline: float = 60.0,
        app_ttl: float = 300.0,
        max_cached: int = 20_000,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._keyring = keyring
        self._identity = identity
        self._clock = clock or _SystemClock()
        self._margin = margin
        self._recheck_after = recheck_after
        # recheck_after=0 asks for exactness (a read per call): pushes do not loosen that.
        self._pushed_recheck_after = max(pushed_recheck_after, recheck_after) if recheck_after > 0 else 0.0
        self._changes = changes
        self._refresh_timeout = refresh_timeout
        self._refresh_deadline = refresh_deadline
        self._app_ttl = app_ttl
        self._max_cached = max_cached
        self._cache: dict[_Key, _Cached] = {}
        # Locks live only while some task holds or awaits them, so idle users cost nothing.
        self._locks: weakref.WeakValueDictionary[_Key, asyncio.Lock] = weakref.WeakValueDictionary()
        # SQLite has one write lock for the whole file: refreshes of different users queue here, in asyncio,
        # rather than in SQLite's busy handler, which gives up after busy_timeout.
        self._sqlite_writes = asyncio.Lock()
        self._apps: dict[str, tuple[float, AtlassianApp]] = {}
        # At most one refresh per user in flight in this process; it outlives callers that stop waiting for it.
        self._flights: dict[_Key, _Flight] = {}

    # -- UpstreamTokenSource ------------------------------------------------------------------------------------

    async def access_token(self, caller: Caller) -> str:
        """The caller's valid Atlassian access token, refreshed when within `margin` seconds of expiry.

        Raises ToolFailure: `reconnect_required` (no link, link marked for reconnect, grant revoked),
        `idp_unavailable` (Atlassian unreachable or slow and the token unusable), `idp_misconfigured`,
        `idp_not_configured`, `vault_unavailable`.
        """
        now = self._clock.time()
        key = (caller.user_id, caller.environment_id)
        entry = self._cache.get(key)
        if entry is not None and entry.expires_at - now > self._margin and now - entry.checked_at < self._trust(entry):
            _served.set((key, entry.version))
            return entry.access_token
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            try:
                found = await self._slow_path(caller)
            except SQLAlchemyError as exc:
                logger.error("token vault database error for user %s: %s", caller.user_id, type(exc).__name__)
                raise ToolFailure("vault_unavailable", VAULT_DOWN) from exc
        # Waited for outside the lock: a caller queued behind a slow refresh must not wait for the timeout of each
        # caller before it (finding 14: ten calls, ten timeouts, 40 s).
        issued = found if isinstance(found, _Issued) else await self._await_flight(found[0], started=found[1])
        _served.set((key, issued.version))
        return issued.access_token

    async def upstream_rejected(self, caller: Caller) -> str | None:
        """Jira refused the token this task was given: a newer token to retry with, or None (link marked).

        The link is marked for reconnect only if the row still holds the version this task was given ("this task":
        the one that called `access_token`; a context variable remembers the version it got; called from anywhere
        else, the link is marked whatever its version). When the row has moved on since (the user signed in again,
        or another instance refreshed), its token is returned instead, so the caller can send the refused request
        once more rather than tell the user to sign in again because of this instance's cache.
        """
        key = (caller.user_id, caller.environment_id)
        served = _served.get()
        version = served[1] if served is not None and served[0] == key else None
        self._cache.pop(key, None)
        statement = (
            update(UpstreamLink)
            .where(
                UpstreamLink.user_id == caller.user_id,
                UpstreamLink.identity_provider_id == _idp_of(caller.environment_id),
                UpstreamLink.status == "active",
            )
            .values(status="reconnect", version=UpstreamLink.version + 1, updated_at=self._utc())
        )
        if version is not None:
            statement = statement.where(UpstreamLink.version == version)
        try:
            async with self._sessions() as db:
                result = await db.execute(statement.execution_options(synchronize_session=False))
                await db.commit()
        except SQLAlchemyError as exc:
            # The caller is told to sign in again either way; the next refresh will find out for itself.
            logger.error("cannot mark the link of user %s for reconnect: %s", caller.user_id, type(exc).__name__)
            return None
        if getattr(result, "rowcount", 0):
            self._announce(caller.user_id)
            logger.info("Atlassian refused the token of user %s: link marked for reconnect", caller.user_id)
            self._count_reconnect("token_refused")
            return None
        if version is None:
            return None  # no active link to mark: it is already marked, or gone
        # Not marked: the row is not active (already marked) or has moved past the refused version. Re-read it.
        try:
            token = await self.access_token(caller)
        except ToolFailure:
            return None
        served = _served.get()
        if served is None or served[1] == version:
            return None  # the same token again: nothing newer to retry with
        logger.info("Atlassian refused an older token of user %s: retrying with the link's current one", caller.user_id)
        return token

    async def aclose(self, *, grace: float = 5.0) -> None:
        """Shutdown: let refreshes in flight store their rotated tokens for up to `grace` seconds, cancel the rest.

        A cancelled refresh is the same as a crash before the commit: the stored refresh token still works for
        Atlassian's 10-minute leeway.
        """
        tasks = [task for task, _ in self._flights.values()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- sign-in ------------------------------------------------------------------------------------------------

    async def store_link(
        self, user_id: str, tokens: UpstreamTokens, cloud_ids: Sequence[str], *, environment_id: str
    ) -> None:
        """Store a fresh sign-in's tokens for `user_id` (who must already exist) at `environment_id`'s identity
        provider, replacing any earlier link there (the user's links in other environments are left alone).

        Takes the same row lock as a refresh, so a refresh racing with the sign-in either finishes first and is
        overwritten, or sees the new tokens and uses them.
        """
        key = (user_id, environment_id)
        for attempt in (1, 2):
            try:
                async with self._sessions() as db, self._write_gate(db):
                    await self._begin_locked(db)
                    link = await self._locked_link(db, key)
                    if link is None:
                        idp_id = await db.scalar(select(_idp_of(environment_id)))
                        if idp_id is None:
                            raise LookupError(
                                f"environment {environment_id} has no Atlassian identity provider to link a sign-in to"
                            )
                        link = UpstreamLink(
                            id=new_id(), user_id=user_id, identity_provider_id=idp_id, idp_kind=IDP_KIND, version=0
                        )
                        db.add(link)
                    link.access_token_enc = self._seal(link.id, "access_token_enc", tokens.access_token)
                    link.refresh_token_enc = (
                        self._seal(link.id, "refresh_token_enc", tokens.refresh_token) if tokens.refresh_token else None
                    )
                    link.expires_at = datetime.fromtimestamp(tokens.expires_at, UTC)
                    link.scopes = " ".join(tokens.scopes)
                    link.cloud_ids = sorted(set(cloud_ids))
                    link.status = "active"
                    link.version = (link.version or 0) + 1
                    version = link.version
                    await db.commit()
                break
            except IntegrityError:
                # Two first sign-ins of one user raced to insert (PostgreSQL); the second becomes an update.
                if attempt == 2:
                    raise
        self._announce(user_id)  # first: this process's own delivery must not drop what is remembered next
        self._remember(key, version, tokens.access_token, tokens.expires_at)

    def forget(self, user_id: str) -> None:
        """Drop this process's cached tokens for a user, in every environment (the next call reads the database)."""
        for key in [key for key in self._cache if key[0] == user_id]:
            del self._cache[key]

    def forget_all(self, *_: object) -> None:
        """Drop every cached token: after people are revoked, or when announced link changes may have been missed."""
        self._cache.clear()

    def _trust(self, entry: _Cached) -> float:
        pushed = self._changes is not None and self._changes.live
        return entry.share * (self._pushed_recheck_after if pushed else self._recheck_after)

    def _announce(self, user_id: str) -> None:
        """Tell every instance's vault (this one's too) that this user's link changed (notify.py)."""
        if self._changes is not None:
            self._changes.publish_soon("link", [user_id])

    # -- internals ------------------------------------------------------------------------------------------------

    async def _slow_path(self, caller: Caller) -> _Issued | tuple[_Flight, bool]:
        """A token to hand out now, or the refresh in flight to wait for (and whether this call started it)."""
        now = self._clock.time()
        key = (caller.user_id, caller.environment_id)
        entry = self._cache.get(key)
        if entry is not None and entry.expires_at - now > self._margin and now - entry.checked_at < self._trust(entry):
            # Another task refreshed or re-checked while this one waited for the lock.
            return _Issued(entry.version, entry.access_token, entry.expires_at)
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        async with self._sessions() as db:
            link = await db.scalar(_link_query(key))
        link = self._check_usable(key, link)
        expires_at = link.expires_at.timestamp()
        if expires_at - now > self._margin:
            if entry is not None and entry.version == link.version:
                entry.checked_at = now  # unchanged since we cached it: no decryption
                return _Issued(entry.version, entry.access_token, entry.expires_at)
            token = self._open(link, "access_token_enc")
            self._remember(key, link.version, token, expires_at)
            return _Issued(link.version, token, expires_at)
        current = None
        if expires_at - now > MIN_USABLE:
            current = _Issued(link.version, self._open(link, "access_token_enc"), expires_at)
        flight = _Flight(asyncio.create_task(self._refresh(caller)), current)
        self._flights[key] = flight
        flight.task.add_done_callback(functools.partial(self._landed, key, flight))
        return flight, True

    async def _await_flight(self, flight: _Flight, *, started: bool) -> _Issued:
        """The refresh's token, waited for at most `refresh_timeout`; the current token when it is still usable.

        The refresh runs on in its own task whatever happens here (`asyncio.shield`): a caller that stops waiting
        does not cancel it, so the rotated pair Atlassian sends late is still stored, and no later caller starts a
        second grant while it runs.
        """
        current = self._usable(flight.current)
        if current is not None and not started:
            return current  # still good for a while: no need to queue behind Atlassian
        try:
            async with asyncio.timeout(self._refresh_timeout):
                return await asyncio.shield(flight.task)
        except TimeoutError:
            current = self._usable(flight.current)
            if current is None:
                raise ToolFailure("idp_unavailable", SLOW) from None
            return current
        except ToolFailure as failure:
            current = self._usable(flight.current)
            if failure.code != "idp_unavailable" or current is None:
                raise
            return current  # not renewed, but still good for a while: better than failing the call

    def _usable(self, issued: _Issued | None) -> _Issued | None:
        """`issued` if it has more than MIN_USABLE seconds left."""
        if issued is None or issued.expires_at - self._clock.time() <= MIN_USABLE:
            return None
        return issued

    def _landed(self, key: _Key, flight: _Flight, task: asyncio.Task[_Issued]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have given up on it already

    async def _refresh(self, caller: Caller) -> _Issued:
        """The one refresh in flight for this user in this process (a task of its own, see `_await_flight`)."""
        outcome = "error"
        try:
            issued = await self._rotate(caller)
            outcome = "ok"
            return issued
        except ToolFailure as failure:
            outcome = failure.code
            raise
        except SQLAlchemyError as exc:
            outcome = "vault_unavailable"
            logger.error("token vault database error for user %s: %s", caller.user_id, type(exc).__name__)
            raise ToolFailure("vault_unavailable", VAULT_DOWN) from exc
        finally:
            if self._metrics is not None:
                self._metrics.refreshes.labels(outcome=outcome).inc()

    def _count_reconnect(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.reconnects.labels(reason=reason).inc()

    async def _rotate(self, caller: Caller) -> _Issued:
        app = await self._app_for(caller.environment_id)
        user_id = caller.user_id
        key = (user_id, caller.environment_id)
        async with self._sessions() as db, self._write_gate(db):
            await self._begin_locked(db)
            link = self._check_usable(key, await self._locked_link(db, key))
            expires_at = link.expires_at.timestamp()
            if expires_at - self._clock.time() > self._margin:
                # Another instance refreshed while we waited for the row: use its token.
                issued = _Issued(link.version, self._open(link, "access_token_enc"), expires_at)
                self._remember(key, issued.version, issued.access_token, expires_at)
                await db.rollback()  # releases the row lock (and expires `link`: read it before)
                return issued
            if link.refresh_token_enc is None:
                await self._mark_reconnect(db, link, key)
                raise ToolFailure("reconnect_required", RECONNECT)
            seen = link.version
            call = asyncio.create_task(self._grant(app, self._open(link, "refresh_token_enc")))
            try:
                # The row lock (SQLite: the whole database's write lock) is held at most `refresh_timeout`, below
                # SQLite's busy timeout: other writers wait for a slow Atlassian, but not until they fail.
                done, _ = await asyncio.wait({call}, timeout=self._refresh_timeout)
            except BaseException:
                call.cancel()
                raise
            if done:
                tokens = await self._answer(caller, call, db, link)
                return await self._store(db, link, tokens, key)
            await db.rollback()
        logger.warning(
            "Atlassian is slow to refresh the token of user %s: row lock released, the answer will be stored late",
            user_id,
        )
        try:
            await asyncio.wait({call})  # bounded by refresh_deadline (`_grant`)
        except BaseException:
            call.cancel()
            raise
        async with self._sessions() as db, self._write_gate(db):
            await self._begin_locked(db)
            link = self._check_usable(key, await self._locked_link(db, key))
            if link.version != seen:
                # A sign-in or another instance's refresh landed meanwhile: the row wins. Whatever Atlassian sent us
                # is dropped unused (a rotated pair never used does not endanger the family).
                issued = _Issued(link.version, self._open(link, "access_token_enc"), link.expires_at.timestamp())
                await db.rollback()
                if not call.cancelled() and call.exception() is None:
                    logger.info("dropped a late refresh of user %s: the link changed meanwhile", user_id)
                return issued
            tokens = await self._answer(caller, call, db, link)
            return await self._store(db, link, tokens, key)

    async def _grant(self, app: AtlassianApp, refresh_token: str) -> UpstreamTokens:
        async with asyncio.timeout(self._refresh_deadline):
            return await self._identity.refresh(app, refresh_token=refresh_token)

    async def _answer(
        self, caller: Caller, call: asyncio.Task[UpstreamTokens], db: AsyncSession, link: UpstreamLink
    ) -> UpstreamTokens:
        """The new pair from a finished grant, or its failure as a ToolFailure (`link` locked in `db`)."""
        try:
            return call.result()
        except GrantRevoked as exc:
            await self._mark_reconnect(db, link, (caller.user_id, caller.environment_id))
            raise ToolFailure("reconnect_required", RECONNECT) from exc
        except (IdentityUnavailable, TimeoutError) as exc:
            await db.rollback()
            logger.warning("cannot refresh the Atlassian token of user %s: %s", caller.user_id, _reason(exc))
            raise ToolFailure("idp_unavailable", UNAVAILABLE) from exc
        except IdentityRejected as exc:
            await db.rollback()
            self._apps.pop(caller.environment_id, None)  # the admin may be fixing the secret right now
            logger.error("Atlassian refused the app credentials on refresh: %s", exc.message)
            raise ToolFailure("idp_misconfigured", REJECTED) from exc

    async def _store(self, db: AsyncSession, link: UpstreamLink, tokens: UpstreamTokens, key: _Key) -> _Issued:
        """Persist the rotated pair before anyone uses the new access token (`link` locked in `db`)."""
        user_id = link.user_id
        link.access_token_enc = self._seal(link.id, "access_token_enc", tokens.access_token)
        link.refresh_token_enc = (
            self._seal(link.id, "refresh_token_enc", tokens.refresh_token) if tokens.refresh_token else None
        )
        link.expires_at = datetime.fromtimestamp(tokens.expires_at, UTC)
        if tokens.scopes:
            link.scopes = " ".join(tokens.scopes)
        link.version += 1
        link.updated_at = self._utc()
        version = link.version
        try:
            await db.commit()
        except SQLAlchemyError as exc:
            # The new pair is lost, not used: the old refresh token stays valid for Atlassian's leeway.
            logger.error("cannot store the refreshed token of user %s: %s", user_id, type(exc).__name__)
            raise ToolFailure("vault_unavailable", VAULT_UNAVAILABLE) from exc
        logger.info("refreshed the Atlassian token of user %s (link version %d)", user_id, version)
        self._remember(key, version, tokens.access_token, tokens.expires_at)
        return _Issued(version, tokens.access_token, tokens.expires_at)

    def _check_usable(self, key: _Key, link: UpstreamLink | None) -> UpstreamLink:
        if link is None:
            self._cache.pop(key, None)
            raise ToolFailure("reconnect_required", NOT_LINKED)
        if link.status != "active":
            self._cache.pop(key, None)
            raise ToolFailure("reconnect_required", RECONNECT)
        return link

    async def _mark_reconnect(self, db: AsyncSession, link: UpstreamLink, key: _Key) -> None:
        link.status = "reconnect"
        link.version += 1
        link.updated_at = self._utc()
        await db.commit()
        self._cache.pop(key, None)
        self._announce(link.user_id)
        logger.info("Atlassian refused the refresh token of user %s: link marked for reconnect", link.user_id)
        self._count_reconnect("refresh_refused")

    def _remember(self, key: _Key, version: int, token: str, expires_at: float) -> None:
        self._cache.pop(key, None)
        if len(self._cache) >= self._max_cached:
            del self._cache[next(iter(self._cache))]  # the least recently stored
        self._cache[key] = _Cached(version, token, expires_at, self._clock.time(), staggered(1.0, key[0]))

    async def _locked_link(self, db: AsyncSession, key: _Key) -> UpstreamLink | None:
        # FOR UPDATE on PostgreSQL; SQLite renders nothing here and relies on BEGIN IMMEDIATE.
        link: UpstreamLink | None = await db.scalar(_link_query(key).with_for_update())
        return link

    @staticmethod
    async def _begin_locked(db: AsyncSession) -> None:
        if db.get_bind().dialect.name == "sqlite":
            # Take the write lock now, not at the first UPDATE: a deferred transaction that read the row would
            # fail with SQLITE_BUSY when it tried to write after another instance's commit.
            await db.execute(text("BEGIN IMMEDIATE"))

    @contextlib.asynccontextmanager
    async def _write_gate(self, db: AsyncSession) -> AsyncIterator[None]:
        if db.get_bind().dialect.name == "sqlite":
            async with self._sqlite_writes:
                yield
        else:
            yield

    async def _app_for(self, environment_id: str) -> AtlassianApp:
        now = self._clock.time()
        cached = self._apps.get(environment_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            async with self._sessions() as db:
                app = await load_atlassian_app(db, self._keyring, environment_id)
        except DecryptionError as exc:
            logger.error("cannot decrypt the Atlassian client secret: %s", exc)
            raise ToolFailure("idp_misconfigured", REJECTED) from exc
        if app is None:
            raise ToolFailure("idp_not_configured", NO_IDP)
        self._apps[environment_id] = (now + self._app_ttl, app)
        return app

    def _seal(self, link_id: str, column: str, value: str) -> str:
        return self._keyring.encrypt(value, aad=column_aad(TABLE, column, link_id))

    def _open(self, link: UpstreamLink, column: str) -> str:
        sealed = getattr(link, column)
        try:
            value: str = self._keyring.decrypt(sealed, aad=column_aad(TABLE, column, link.id))
        except DecryptionError as exc:
            # Not marked for reconnect: a key ring fixed by the admin makes the row readable again.
            logger.error("cannot decrypt %s of user %s: %s", column, link.user_id, exc)
            raise ToolFailure("reconnect_required", UNREADABLE) from exc
        return value

    def _utc(self) -> datetime:
        return datetime.fromtimestamp(self._clock.time(), UTC)


def _idp_of(environment_id: str) -> ScalarSelect[str]:
    """The id of the environment's Atlassian identity provider: whose link, whose app."""
    return (
        select(IdentityProvider.id)
        .where(IdentityProvider.environment_id == environment_id, IdentityProvider.kind == IDP_KIND)
        .scalar_subquery()
    )


def _link_query(key: _Key) -> Select[UpstreamLink]:
    user_id, environment_id = key
    return select(UpstreamLink).where(
        UpstreamLink.user_id == user_id, UpstreamLink.identity_provider_id == _idp_of(environment_id)
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer within the refresh timeout"
    return str(exc)
