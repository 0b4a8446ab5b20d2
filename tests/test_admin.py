"""Admin API keys and the admin change log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from policyarc.admin import create_admin_key, list_admin_keys, record_change, revoke_admin_key, verify_admin_key
from policyarc.secrets import hash_token
from policyarc.store import session_factory
from policyarc.store.models import AdminApiKey, AdminChange


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


async def test_create_verify_revoke_list(session: AsyncSession) -> None:
    key_id, raw = await create_admin_key(session, "  ci  ")
    await session.commit()
    row = await session.get_one(AdminApiKey, key_id)
    assert row.name == "ci" and row.key_hash == hash_token(raw) and raw.startswith("pa_admin_")
    identity = await verify_admin_key(session, raw)
    assert identity is not None and (identity.key_id, identity.name) == (key_id, "ci")
    assert await verify_admin_key(session, raw + "x") is None
    assert await verify_admin_key(session, "pa_at_" + raw.removeprefix("pa_admin_")) is None
    revoked = await revoke_admin_key(session, key_id)
    await session.commit()
    assert revoked is not None and not revoked.active
    assert await verify_admin_key(session, raw) is None
    again = await revoke_admin_key(session, key_id)
    assert again is not None and again.revoked_at == revoked.revoked_at  # idempotent
    assert await revoke_admin_key(session, "nope") is None
    [listed] = await list_admin_keys(session)
    assert listed.id == key_id and not listed.active


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
async def test_a_key_needs_a_sensible_name(session: AsyncSession, name: str) -> None:
    with pytest.raises(ValueError, match="needs a name"):
        await create_admin_key(session, name)


async def test_record_change_refuses_secret_looking_details(session: AsyncSession) -> None:
    await record_change(session, "ops", "idp.update", "idp", {"client_id": "a", "secret_changed": True})
    for details in ({"client_secret": "x"}, {"refresh_token": "x"}, {"Password": "x"}):
        with pytest.raises(ValueError, match="must not carry secrets"):
            await record_change(session, "ops", "idp.update", "idp", details)
    await session.commit()
    [change] = list(await session.scalars(select(AdminChange)))
    assert (change.actor, change.action, change.details) == (
        "ops",
        "idp.update",
        {"client_id": "a", "secret_changed": True},
    )
