"""Migration 0005: upstream links move from (user, IdP kind) to (user, identity provider)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from policyarc.store import create_engine, upgrade
from policyarc.store.models import Environment, IdentityProvider, UpstreamLink, User

THEN = datetime(2026, 11, 1, tzinfo=UTC)


def _link(link_id: str, user_id: str) -> dict[str, object]:
    return {
        "id": link_id,
        "user_id": user_id,
        "idp_kind": "atlassian",
        "access_token_enc": "x",
        "expires_at": THEN,
        "scopes": "",
        "cloud_ids": [],
        "status": "active",
        "version": 1,
        "created_at": THEN,
        "updated_at": THEN,
    }


async def test_0005_places_links_on_the_default_environments_idp(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as db:
            for env_id, name in (("e-default", "default"), ("e-staging", "staging")):
                await db.execute(sa.insert(Environment.__table__).values(id=env_id, name=name, created_at=THEN))
                await db.execute(
                    sa.insert(IdentityProvider.__table__).values(
                        id=f"idp-{name}",
                        environment_id=env_id,
                        kind="atlassian",
                        client_id=f"app-{name}",
                        client_secret_enc="x",
                        scopes="",
                        created_at=THEN,
                        updated_at=THEN,
                    )
                )
            for user_id in ("u1", "u2"):
                await db.execute(
                    sa.insert(User.__table__).values(
                        id=user_id, idp_kind="atlassian", idp_subject=user_id, created_at=THEN
                    )
                )
                await db.execute(sa.insert(UpstreamLink.__table__).values(**_link(f"l-{user_id}", user_id)))
        await upgrade(engine)
        table = UpstreamLink.__table__
        async with engine.connect() as db:
            rows = dict((await db.execute(sa.select(table.c.id, table.c.identity_provider_id))).all())
        # Every link was made with the default environment's app, the only one served before 0005.
        assert rows == {"l-u1": "idp-default", "l-u2": "idp-default"}
        async with engine.begin() as db:  # and a user may now hold a second link, at staging's IdP
            await db.execute(sa.insert(table).values(**_link("l-u1-staging", "u1"), identity_provider_id="idp-staging"))
    finally:
        await engine.dispose()


async def test_0005_deletes_links_it_cannot_place(db_url: str) -> None:
    """No default environment's Atlassian IdP: nobody could refresh the link; its user signs in again."""
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as db:
            await db.execute(
                sa.insert(User.__table__).values(id="u1", idp_kind="atlassian", idp_subject="u1", created_at=THEN)
            )
            await db.execute(sa.insert(UpstreamLink.__table__).values(**_link("l-u1", "u1")))
        await upgrade(engine)
        async with engine.connect() as db:
            assert await db.scalar(sa.select(sa.func.count()).select_from(UpstreamLink.__table__)) == 0
    finally:
        await engine.dispose()
