from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.store import create_engine, current_revision, head_revision, upgrade
from policyarc.store.migrate import HEAD_REVISION, MIGRATIONS_DIR
from policyarc.store.models import Base


async def _schema_diff(engine: AsyncEngine, metadata: sa.MetaData) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
        )


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    # The newest numbered migration is the head (revisions are named by their file's number).
    assert head_revision() == max(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    # The constant that lets a start skip Alembic names that head: a new migration must move it too.
    assert head_revision() == HEAD_REVISION


async def test_a_database_behind_head_is_still_migrated(db_url: str) -> None:
    await upgrade(db_url, "0004")
    assert await current_revision(db_url) == "0004"

    await upgrade(db_url)

    assert await current_revision(db_url) == HEAD_REVISION


async def test_a_start_on_a_database_at_head_does_not_load_alembic(db_url: str) -> None:
    await upgrade(db_url)
    script = (
        "import asyncio, sys\n"
        "from policyarc.store import upgrade\n"
        "asyncio.run(upgrade(sys.argv[1]))\n"
        "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, db_url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "[]"


async def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    assert await current_revision(db_url) is None

    await upgrade(db_url)

    assert await current_revision(db_url) == head_revision()
    engine = create_engine(db_url)
    try:
        assert await _tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrade_is_idempotent_and_keeps_data(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO environments (id, name, created_at) VALUES ('e1', 'default', CURRENT_TIMESTAMP)")
        )

    await upgrade(engine)
    await upgrade(engine)

    async with engine.connect() as connection:
        assert (await connection.execute(sa.text("SELECT name FROM environments"))).scalars().all() == ["default"]
    assert await current_revision(engine) == head_revision()


async def test_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    assert await _schema_diff(engine, Base.metadata) == []


async def test_schema_drift_is_detected(engine: AsyncEngine) -> None:
    # The check above must be able to fail: a model column the migrations lack shows up as a difference.
    drifted = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(sa.Column("nickname", sa.String(40)))

    diff = await _schema_diff(engine, drifted)

    assert [(op[0], op[3].name) for op in diff] == [("add_column", "nickname")]


async def test_instances_starting_at_once_all_succeed(pg_url: str) -> None:
    # Separate processes, as real instances are: without the advisory lock two of three fail with
    # duplicate-table errors. (PostgreSQL only: it is the shared store; subprocesses are slow to start.)
    db_url = pg_url
    script = "import asyncio, sys; from policyarc.store import upgrade; asyncio.run(upgrade(sys.argv[1]))"
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, db_url, stderr=asyncio.subprocess.PIPE)
        for _ in range(3)
    ]
    results = [await asyncio.wait_for(process.communicate(), timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0], [err.decode()[-500:] for _, err in results]
    assert await current_revision(db_url) == head_revision()


async def test_upgrades_in_one_process_take_turns(db_url: str) -> None:
    await asyncio.gather(*(upgrade(db_url) for _ in range(3)))

    assert await current_revision(db_url) == head_revision()


async def test_in_memory_sqlite_is_migrated_through_its_engine() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        await upgrade(engine)
        assert "users" in await _tables(engine)
    finally:
        await engine.dispose()


async def test_in_memory_sqlite_url_is_refused() -> None:
    with pytest.raises(ValueError, match="pass the engine"):
        await upgrade("sqlite+aiosqlite://")


async def test_0002_dates_clients_that_hold_tokens_from_their_newest_token(db_url: str) -> None:
    """Existing clients with tokens must not look never-used (the janitor would delete them and their tokens)."""
    from datetime import UTC, datetime

    from policyarc.store.models import Environment, OAuthClient, RefreshToken, User

    then = datetime(2026, 11, 1, tzinfo=UTC)
    newest = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as db:
            await db.execute(sa.insert(Environment.__table__).values(id="e", name="default", created_at=then))
            await db.execute(
                sa.insert(User.__table__).values(id="u", idp_kind="atlassian", idp_subject="acc", created_at=then)
            )
            for client_id in ("with-tokens", "without"):
                await db.execute(
                    sa.insert(OAuthClient.__table__).values(
                        client_id=client_id, metadata={}, kind="dcr", created_at=then, updated_at=then
                    )
                )
            for n, created in enumerate((datetime(2026, 11, 20, tzinfo=UTC), newest)):
                await db.execute(
                    sa.insert(RefreshToken.__table__).values(
                        token_hash=f"h{n}",
                        family="f",
                        client_id="with-tokens",
                        user_id="u",
                        environment_id="e",
                        scopes="s",
                        created_at=created,
                        expires_at=datetime(2026, 12, 30, tzinfo=UTC),
                    )
                )
        await upgrade(engine)
        table = OAuthClient.__table__
        async with engine.connect() as db:
            rows = dict((await db.execute(sa.select(table.c.client_id, table.c.last_used_at))).all())
        assert rows == {"with-tokens": newest, "without": None}
    finally:
        await engine.dispose()
