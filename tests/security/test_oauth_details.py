"""OAuth details of issue 8: /revoke for every client kind (finding 6), reuse revocations that survive the refusal
(7), `resource` on /token (8), pending requests bound to their browser (9), client-chosen text on the consent
page (10)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from mcp.server.auth.provider import TokenError
from mcp.shared.auth import OAuthClientInformationFull
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.oauth import pending
from policyarc.oauth.config import OAuthConfig
from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.store import models, session_factory
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.gateway_harness import (
    CLIENT_REDIRECT,
    ISSUER,
    RESOURCE,
    SCOPES,
    FakeClock,
    FakePolicy,
    Gateway,
)

# The gateway over SQLite and the metadata-document host, as tests/oauth uses them.
gateway = oauth_fixtures.gateway
documents = oauth_fixtures.documents


async def _alive(gateway: Gateway, tokens: dict[str, Any]) -> bool:
    return await gateway.resolver.resolve(tokens["access_token"]) is not None


# --- finding 7: a reuse revokes the family, and the revocation is committed -----------------------------------


@dataclass
class Race:
    provider: GatewayAuthProvider
    client: OAuthClientInformationFull
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def race(engine: AsyncEngine) -> AsyncIterator[Race]:
    """A provider over a migrated database of either backend (`engine`), with one user and one public client."""
    sessions = session_factory(engine)
    clock = FakeClock()
    async with sessions.begin() as db:
        env = models.Environment(name="default")
        db.add(env)
        await db.flush()
        db.add(models.User(id="u" * 32, idp_kind="atlassian", idp_subject="acct-1", email="alice@example.com"))
        environment_id = env.id
    config = OAuthConfig(issuer=ISSUER, environment_id=environment_id, scopes=SCOPES)
    provider = GatewayAuthProvider(sessions=sessions, config=config, policy=FakePolicy(), clock=clock)
    client = OAuthClientInformationFull(
        client_id="race-client",
        redirect_uris=[CLIENT_REDIRECT],  # type: ignore[list-item]
        token_endpoint_auth_method="none",
        client_name="Race",
    )
    await provider.register_client(client)
    yield Race(provider, client, sessions)


async def _code(race: Race) -> str:
    request = pending.PendingAuthorization(
        client_id=race.client.client_id,
        redirect_uri=CLIENT_REDIRECT,
        redirect_uri_provided_explicitly=True,
        code_challenge="x" * 43,
        scopes=("jira:issues:read",),
        state=None,
        resource=RESOURCE,
    )
    async with race.sessions.begin() as db:
        location = await race.provider.issue_code(db, request, user_id="u" * 32, scopes=["jira:issues:read"])
    return location.split("code=")[1].split("&")[0]


async def _live_tokens(race: Race) -> tuple[int, int]:
    """(live access tokens, live refresh tokens) in the database: one user, one client, one family."""
    async with race.sessions() as db:
        access = await db.scalar(
            sa.select(sa.func.count()).select_from(models.AccessToken).where(models.AccessToken.revoked_at.is_(None))
        )
        refresh = await db.scalar(
            sa.select(sa.func.count()).select_from(models.RefreshToken).where(models.RefreshToken.revoked_at.is_(None))
        )
    return int(access or 0), int(refresh or 0)


def _outcomes(results: list[Any]) -> tuple[list[Any], list[BaseException]]:
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    return won, lost


async def test_concurrent_exchanges_of_one_code_leave_the_family_revoked(race: Race) -> None:
    provider, client = race.provider, race.client
    code = await _code(race)
    # Both requests passed the load (the code was not consumed yet) before either exchanged it: a real race.
    first = await provider.load_authorization_code(client, code)
    second = await provider.load_authorization_code(client, code)
    assert first is not None and second is not None
    results = await asyncio.gather(
        provider.exchange_authorization_code(client, first),
        provider.exchange_authorization_code(client, second),
        return_exceptions=True,
    )
    won, lost = _outcomes(list(results))
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], TokenError) and lost[0].error == "invalid_grant"
    assert await _live_tokens(race) == (0, 0)  # the winner's tokens too
    assert await provider.load_access_token(won[0].access_token) is None


async def test_concurrent_refreshes_of_one_token_leave_the_family_revoked(race: Race) -> None:
    provider, client = race.provider, race.client
    code = await provider.load_authorization_code(client, await _code(race))
    assert code is not None
    issued = await provider.exchange_authorization_code(client, code)
    assert issued.refresh_token is not None
    first = await provider.load_refresh_token(client, issued.refresh_token)
    second = await provider.load_refresh_token(client, issued.refresh_token)
    assert first is not None and second is not None
    results = await asyncio.gather(
        provider.exchange_refresh_token(client, first, first.scopes),
        provider.exchange_refresh_token(client, second, second.scopes),
        return_exceptions=True,
    )
    won, lost = _outcomes(list(results))
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], TokenError) and lost[0].error == "invalid_grant"
    assert await _live_tokens(race) == (0, 0)
    assert await provider.load_refresh_token(client, won[0].refresh_token) is None


async def test_concurrent_code_exchanges_over_http_leave_nothing_alive(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    code, verifier = await gateway.code_for(client)
    answers = await asyncio.gather(*(gateway.exchange(client, code, verifier) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400]
    issued = next(a.json() for a in answers if a.status_code == 200)
    assert not await _alive(gateway, issued)
    refreshed = await gateway.token(client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert refreshed.status_code == 400


async def test_concurrent_refreshes_over_http_leave_nothing_alive(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    fresh = await gateway.tokens_for(client)
    answers = await asyncio.gather(
        *(gateway.token(client, grant_type="refresh_token", refresh_token=fresh["refresh_token"]) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [200, 400]
    rotated = next(a.json() for a in answers if a.status_code == 200)
    assert not await _alive(gateway, rotated) and not await _alive(gateway, fresh)
    again = await gateway.token(client, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert again.status_code == 400
