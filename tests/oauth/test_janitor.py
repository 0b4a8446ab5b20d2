from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.oauth.janitor import CLIENT_IDLE, CLIENT_UNUSED, GRACE, Janitor, purge_expired
from policyarc.settings import load_settings
from policyarc.store import session_factory
from policyarc.store.models import (
    BrowserSession,
    Consent,
    Environment,
    LoginState,
    OAuthClient,
    RefreshToken,
    User,
    new_id,
    utcnow,
)


async def test_purges_only_what_expired_more_than_the_grace_ago(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    now = utcnow()
    user = User(id=new_id(), email="a@example.com", display_name="A", idp_kind="atlassian", idp_subject="acc-1")
    async with sessions.begin() as db:
        db.add(user)
        await db.flush()
        db.add_all(
            [
                LoginState(state_hash="old", payload={}, expires_at=now - GRACE - timedelta(minutes=1)),
                LoginState(state_hash="recent", payload={}, expires_at=now - timedelta(minutes=1)),
                LoginState(state_hash="live", payload={}, expires_at=now + timedelta(minutes=5)),
                BrowserSession(id_hash="old", user_id=user.id, expires_at=now - timedelta(days=3)),
                BrowserSession(id_hash="live", user_id=user.id, expires_at=now + timedelta(hours=1)),
            ]
        )
    counts = await purge_expired(sessions, now)
    assert counts["login_states"] == 1
    assert counts["browser_sessions"] == 1
    async with sessions() as db:
        states = set((await db.scalars(select(LoginState.state_hash))).all())
        assert states == {"recent", "live"}
        assert await db.scalar(select(func.count()).select_from(BrowserSession)) == 1
    assert await purge_expired(sessions, now) == dict.fromkeys(counts, 0)


async def test_purges_clients_never_used_within_a_day_or_idle_for_months(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    now = utcnow()
    day = timedelta(days=1)

    def client(client_id: str, *, age: timedelta, idle: timedelta | None) -> OAuthClient:
        return OAuthClient(
            client_id=client_id,
            client_metadata={"client_name": client_id},
            kind="dcr",
            created_at=now - age,
            updated_at=now - age,
            last_used_at=None if idle is None else now - idle,
        )

    async with sessions.begin() as db:
        env = Environment(name="default")
        user = User(id=new_id(), email="a@example.com", idp_kind="atlassian", idp_subject="acc-1")
        db.add_all([env, user])
        await db.flush()
        db.add_all(
            [
                client("new-unused", age=CLIENT_UNUSED - timedelta(minutes=5), idle=None),
                client("old-unused", age=CLIENT_UNUSED + timedelta(minutes=5), idle=None),
                client("in-use", age=200 * day, idle=CLIENT_IDLE - day),
                client("idle", age=200 * day, idle=CLIENT_IDLE + day),
            ]
        )
        await db.flush()
        for client_id in ("in-use", "idle"):
            db.add(Consent(user_id=user.id, client_id=client_id, environment_id=env.id, scopes="jira:issues:read"))
            db.add(
                RefreshToken(
                    token_hash=f"rt-{client_id}".ljust(64, "0"),
                    family=f"fam-{client_id}",
                    client_id=client_id,
                    user_id=user.id,
                    environment_id=env.id,
                    scopes="jira:issues:read",
                    expires_at=now + 30 * day,  # never past its expiry: it goes because its client does
                )
            )

    counts = await purge_expired(sessions, now)

    assert counts["oauth_clients"] == 2
    async with sessions() as db:
        assert set(await db.scalars(select(OAuthClient.client_id))) == {"new-unused", "in-use"}
        assert set(await db.scalars(select(RefreshToken.client_id))) == {"in-use"}
        assert set(await db.scalars(select(Consent.client_id))) == {"in-use"}
    # The limits are the janitor's settings: a shorter idle time takes the client in use too.
    counts = await purge_expired(sessions, now, client_unused=day, client_idle=CLIENT_IDLE - 2 * day)
    assert counts["oauth_clients"] == 1


def test_client_limits_come_from_settings_and_outlast_refresh_tokens(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    default = Janitor.from_settings(sessions, load_settings())
    assert default.client_limits == (CLIENT_UNUSED, CLIENT_IDLE)
    settings = load_settings(client_unused_ttl=7200, client_idle_ttl=86_400, refresh_token_ttl=30 * 86_400)
    tuned = Janitor.from_settings(sessions, settings)
    assert tuned.client_limits == (timedelta(hours=2), timedelta(days=30))  # the 30-day refresh token TTL wins
