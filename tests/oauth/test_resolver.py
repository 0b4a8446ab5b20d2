"""TokenResolver: bearer token -> Caller, refusing expired, revoked and other-resource tokens."""

from __future__ import annotations

import sqlalchemy as sa

from policyarc.oauth import TokenResolver
from policyarc.secrets import hash_token
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
