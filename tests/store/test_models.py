from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from policyarc.store import session_factory
from policyarc.store.models import AuditRecord, Environment, IdentityProvider, UpstreamLink, User, new_id


async def _idp(session: AsyncSession, name: str = "default") -> str:
    """An environment with an Atlassian identity provider: what a link belongs to. Returns the IdP's id."""
    environment = Environment(id=new_id(), name=name)
    session.add(environment)
    await session.flush()
    idp = IdentityProvider(
        id=new_id(), environment_id=environment.id, kind="atlassian", client_id="app", client_secret_enc="x", scopes=""
    )
    session.add(idp)
    await session.flush()
    return idp.id


async def test_timestamps_come_back_as_aware_utc(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    paris = timezone(timedelta(hours=1))
    expires = datetime(2026, 11, 29, 10, 30, tzinfo=paris)
    async with sessions.begin() as session:
        user = User(idp_kind="atlassian", idp_subject="acc-1", email="alice@example.com")
        session.add(user)
        await session.flush()
        idp_id = await _idp(session)
        session.add(
            UpstreamLink(
                user_id=user.id,
                identity_provider_id=idp_id,
                idp_kind="atlassian",
                access_token_enc="v1.k.x",
                expires_at=expires,
                scopes="read:jira-work",
            )
        )

    async with sessions() as session:
        link = (await session.execute(sa.select(UpstreamLink))).scalar_one()

    assert link.expires_at == expires
    assert link.expires_at.tzinfo is UTC
    assert link.expires_at.hour == 9
    assert link.created_at.tzinfo is UTC
    assert link.status == "active" and link.version == 1 and link.cloud_ids == []


async def test_time_comparisons_work_across_offsets(engine: AsyncEngine) -> None:
    # On SQLite timestamps are text: they only compare correctly because every value is stored as UTC.
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        user = User(idp_kind="atlassian", idp_subject="acc-1")
        session.add(user)
        await session.flush()
        idp_id = await _idp(session)
        session.add(
            UpstreamLink(
                user_id=user.id,
                identity_provider_id=idp_id,
                idp_kind="atlassian",
                access_token_enc="x",
                expires_at=now,
                scopes="",
            )
        )

    later_elsewhere = (now + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-8)))
    async with sessions() as session:
        expired = await session.scalar(sa.select(sa.func.count()).where(UpstreamLink.expires_at < later_elsewhere))
    assert expired == 1


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(Environment(name="default", created_at=datetime(2026, 1, 1)))


async def test_deleting_a_user_deletes_their_tokens(engine: AsyncEngine) -> None:
    # Needs foreign keys enforced, which SQLite only does with the pragma the engine sets.
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        user = User(idp_kind="atlassian", idp_subject="acc-1")
        session.add(user)
        await session.flush()
        idp_id = await _idp(session)
        session.add(
            UpstreamLink(
                user_id=user.id,
                identity_provider_id=idp_id,
                idp_kind="atlassian",
                access_token_enc="x",
                expires_at=datetime.now(UTC),
                scopes="",
            )
        )

    async with engine.begin() as connection:
        await connection.execute(sa.delete(User))
        assert await connection.scalar(sa.select(sa.func.count()).select_from(UpstreamLink)) == 0


async def test_foreign_keys_are_enforced(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(
                UpstreamLink(
                    user_id="nobody",
                    identity_provider_id="nowhere",
                    idp_kind="atlassian",
                    access_token_enc="x",
                    expires_at=datetime.now(UTC),
                    scopes="",
                )
            )


async def test_one_link_per_user_and_identity_provider(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    def link(user_id: str, idp_id: str) -> UpstreamLink:
        return UpstreamLink(
            user_id=user_id,
            identity_provider_id=idp_id,
            idp_kind="atlassian",
            access_token_enc="x",
            expires_at=datetime.now(UTC),
            scopes="",
        )

    async with sessions.begin() as session:
        user = User(idp_kind="atlassian", idp_subject="acc-1")
        session.add(user)
        await session.flush()
        user_id = user.id
        idp_id = await _idp(session)
        staging_idp_id = await _idp(session, "staging")
        # Another environment's Atlassian app: a link of its own (each refreshes with its own app).
        session.add_all([link(user_id, idp_id), link(user_id, staging_idp_id)])
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(link(user_id, idp_id))


async def test_audit_ids_increase(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        records = [AuditRecord(decision="allow", tool="jira_search", latency_ms=1.25) for _ in range(3)]
        session.add_all(records)
    ids = [record.id for record in records]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert records[0].latency_ms == 1.25
