"""TokenResolver: bearer token -> Caller, refusing expired, revoked and other-resource tokens."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from policyarc.caller import Caller
from policyarc.oauth import TokenResolver
from policyarc.secrets import hash_token
from policyarc.stagger import staggered
from policyarc.store.models import AccessToken
from tests.oauth.gateway_harness import Gateway


async def test_resolves_the_caller(gateway: Gateway) -> None:
    client = await gateway.register(client_name="My Agent")
    tokens = await gateway.tokens_for(client, "bob@example.com")
    caller = await gateway.resolver.resolve(tokens["access_token"])
    assert caller is not None
    assert caller.email == "bob@example.com" and caller.account_id.startswith("712020:b0b0")
    assert caller.client_id == client["client_id"] and caller.client_name == "My Agent"
    assert caller.environment_id == gateway.environment_id and caller.scopes == frozenset({"jira:issues:read"})
    assert await gateway.resolver.resolve("pa_at_unknown") is None
    assert await gateway.resolver.resolve("") is None


async def test_expired_token_is_refused_even_when_cached(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    assert await gateway.resolver.resolve(tokens["access_token"]) is not None
    gateway.clock.advance(gateway.config.access_token_ttl + 1)
    assert await gateway.resolver.resolve(tokens["access_token"]) is None


async def test_token_for_another_resource_is_refused(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    async with gateway.sessions.begin() as db:
        row = await db.get(AccessToken, hash_token(tokens["access_token"]))
        assert row is not None
        row.resource = "https://other.example/mcp"
    fresh = TokenResolver(sessions=gateway.sessions, config=gateway.config, clock=gateway.clock)
    assert await fresh.resolve(tokens["access_token"]) is None


async def test_revocation_elsewhere_shows_after_the_cache_ages_out(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    assert await gateway.resolver.resolve(tokens["access_token"]) is not None
    # Revoked by "another instance": straight in the database, this resolver not told.
    async with gateway.sessions.begin() as db:
        await db.execute(sa.update(AccessToken).values(revoked_at=sa.func.now()))
    assert await gateway.resolver.resolve(tokens["access_token"]) is not None  # cached, for a few seconds
    gateway.clock.advance(6)
    assert await gateway.resolver.resolve(tokens["access_token"]) is None


async def test_concurrent_misses_for_one_token_share_one_read(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    fresh = TokenResolver(sessions=gateway.sessions, config=gateway.config, clock=gateway.clock)
    reads = 0
    load = fresh._load

    async def counted(token_hash: str, now: float) -> Caller | None:
        nonlocal reads
        reads += 1
        return await load(token_hash, now)

    fresh._load = counted  # type: ignore[method-assign]
    callers = await asyncio.gather(*(fresh.resolve(tokens["access_token"]) for _ in range(20)))

    assert reads == 1
    assert all(caller is not None and caller.email == "alice@example.com" for caller in callers)


async def test_a_revocation_during_a_read_is_not_cached_over(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    fresh = TokenResolver(sessions=gateway.sessions, config=gateway.config, clock=gateway.clock)
    load = fresh._load

    async def forgotten_meanwhile(token_hash: str, now: float) -> Caller | None:
        found = await load(token_hash, now)
        fresh.forget([token_hash])  # this instance revoked the token while the read was in flight
        return found

    fresh._load = forgotten_meanwhile  # type: ignore[method-assign]
    await fresh.resolve(tokens["access_token"])
    fresh._load = load  # type: ignore[method-assign]
    async with gateway.sessions.begin() as db:
        await db.execute(sa.update(AccessToken).values(revoked_at=sa.func.now()))

    assert await fresh.resolve(tokens["access_token"]) is None  # read again, not served from the cache


def test_cache_lifetimes_are_staggered_within_the_bound() -> None:
    lifetimes = [staggered(5.0, hash_token(f"token-{n}")) for n in range(1000)]
    assert all(2.5 <= lifetime < 5.0 for lifetime in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 2.0  # spread over the range, not bunched
    assert staggered(5.0, "same") == staggered(5.0, "same")


class Pushes:
    """The change feed as the resolver sees it: live or not, switched by the test."""

    def __init__(self, live: bool) -> None:
        self.live = live


async def _cached_then_revoked_behind_its_back(gateway: Gateway, pushes: Pushes) -> tuple[TokenResolver, str]:
    """A resolver that has cached a token's caller, and the token, since revoked by a change no push told it of."""
    client = await gateway.register()
    token = (await gateway.tokens_for(client))["access_token"]
    resolver = TokenResolver(sessions=gateway.sessions, config=gateway.config, clock=gateway.clock, pushes=pushes)
    assert await resolver.resolve(token) is not None
    async with gateway.sessions.begin() as db:
        await db.execute(sa.update(AccessToken).values(revoked_at=sa.func.now()))
    return resolver, token


async def test_while_revocations_are_pushed_an_entry_is_trusted_for_the_long_bound(gateway: Gateway) -> None:
    resolver, token = await _cached_then_revoked_behind_its_back(gateway, Pushes(live=True))

    gateway.clock.advance(60)
    assert await resolver.resolve(token) is not None  # no read: a push would have told it
    gateway.clock.advance(300)
    assert await resolver.resolve(token) is None  # past the long bound: read again


async def test_a_feed_that_stops_being_live_puts_the_short_bound_back_at_once(gateway: Gateway) -> None:
    pushes = Pushes(live=True)
    resolver, token = await _cached_then_revoked_behind_its_back(gateway, pushes)
    gateway.clock.advance(6)
    assert await resolver.resolve(token) is not None

    pushes.live = False  # the listening connection dropped: revocations may now go unheard

    assert await resolver.resolve(token) is None


async def test_forget_all_drops_every_cached_caller(gateway: Gateway) -> None:
    resolver, token = await _cached_then_revoked_behind_its_back(gateway, Pushes(live=True))

    resolver.forget_all()  # what an `access` announcement or a resync does

    assert resolver.cached == 0
    assert await resolver.resolve(token) is None


async def test_a_full_cache_drops_its_oldest_tenth_not_everything(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    resolver = TokenResolver(
        sessions=gateway.sessions, config=gateway.config, clock=gateway.clock, pushes=Pushes(live=True), max_entries=2
    )
    caller = await resolver.resolve(tokens["access_token"])
    assert caller is not None
    load = resolver._load

    async def any_token_is_that_one(token_hash: str, now: float) -> tuple[Caller, str | None] | None:
        return await load(hash_token(tokens["access_token"]), now)  # other tokens of the same caller

    resolver._load = any_token_is_that_one  # type: ignore[method-assign]
    for other in ("pa_at_second", "pa_at_third"):
        assert await resolver.resolve(other) == caller

    assert resolver.cached == 2  # the third pushed out the first (a tenth of the room, at least one), and only it
    assert hash_token(tokens["access_token"]) not in resolver._cache and hash_token("pa_at_third") in resolver._cache
