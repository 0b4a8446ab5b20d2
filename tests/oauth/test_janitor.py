from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.oauth.janitor import GRACE, purge_expired
from policyarc.store import session_factory
from policyarc.store.models import BrowserSession, LoginState, User, new_id, utcnow


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
