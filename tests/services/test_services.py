"""The admin operations over both databases: races between instances, and the key ring sweep."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.policy import DEFAULT_POLICY
from policyarc.secrets import KeyRing, column_aad
from policyarc.services import (
    Conflict,
    ensure_environment,
    gateway_scopes,
    reencrypt_secrets,
    set_idp,
    set_policy,
    show_policy,
)
from policyarc.store import session_factory
from policyarc.store.models import (
    AdminChange,
    Environment,
    IdentityProvider,
    Policy,
    UpstreamLink,
    User,
    new_id,
    utcnow,
)


async def test_instances_starting_together_make_one_default_environment(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    async def start() -> str:
        async with sessions() as session:
            environment = await ensure_environment(session)
            await session.commit()
            return environment.id

    ids = await asyncio.gather(*(start() for _ in range(4)))
    assert len(set(ids)) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Environment)) == 1
        assert await session.scalar(select(func.count()).select_from(Policy)) == 1
        assert (await show_policy(session, await ensure_environment(session))).text == DEFAULT_POLICY


async def test_concurrent_saves_never_share_a_version_and_losers_are_told(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as setup:
        await ensure_environment(setup)
        await setup.commit()

    async def save(n: int) -> int | str:
        async with sessions() as session:
            environment = await ensure_environment(session)
            try:
                view = await set_policy(session, environment, DEFAULT_POLICY + "\n" * n, scopes=gateway_scopes(),
                                        actor=f"admin-{n}")  # fmt: skip
            except Conflict as exc:
                return exc.code
            return view.version

    outcomes = await asyncio.gather(*(save(n) for n in range(1, 7)))
    versions = sorted(v for v in outcomes if isinstance(v, int))
    assert versions == list(range(2, 2 + len(versions)))  # unique and gap-free
    assert all(o == "policy_version_conflict" for o in outcomes if not isinstance(o, int))
    async with sessions() as session:
        stored = list(await session.scalars(select(Policy.version).order_by(Policy.version)))
        changes = await session.scalar(select(func.count()).select_from(AdminChange))
    assert stored == [1, *versions] and changes == len(versions)  # a lost save leaves no change record


async def test_reencrypt_moves_every_secret_to_the_primary_and_skips_what_it_cannot_read(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    old = KeyRing.generate("old")
    new = old.rotated("new")
    async with sessions() as session:
        environment = await ensure_environment(session)
        await set_idp(session, environment, old, kind="atlassian", client_id="app", client_secret="s1",
                      scopes=None, public_url="https://gw.example.com", actor="t")  # fmt: skip
        user = User(id=new_id(), email="a@example.com", idp_kind="atlassian", idp_subject="acc")
        session.add(user)
        await session.flush()
        idp_id = await session.scalar(
            select(IdentityProvider.id).where(IdentityProvider.environment_id == environment.id)
        )
        link = UpstreamLink(id=new_id(), user_id=user.id, identity_provider_id=idp_id, idp_kind="atlassian",
                            access_token_enc="", refresh_token_enc=None, expires_at=utcnow(), scopes="",
                            version=7)  # fmt: skip
        link.access_token_enc = old.encrypt("at-1", aad=column_aad("upstream_links", "access_token_enc", link.id))
        link.refresh_token_enc = KeyRing.generate("gone").encrypt(
            "rt-1", aad=column_aad("upstream_links", "refresh_token_enc", link.id)
        )
        session.add(link)
        await session.commit()
        result = await reencrypt_secrets(session, new)
        await session.commit()
        assert (result.rewritten, result.current, result.unreadable) == (2, 0, 1)
        await session.refresh(link)
        assert (
            new.decrypt(link.access_token_enc, aad=column_aad("upstream_links", "access_token_enc", link.id)) == "at-1"
        )
        assert not new.needs_rotation(link.access_token_enc)
        assert link.version == 7  # same plaintext: the vault's caches stay valid
        again = await reencrypt_secrets(session, new)
        assert (again.rewritten, again.current, again.unreadable) == (0, 2, 1)
