"""Secrets never rest in clear: after a sign-in and tool calls, neither the database file nor the log holds any
Atlassian token the user was issued, the gateway tokens, or the Atlassian app's client secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.e2e.harness import APP_SECRET, running_product


def _database_bytes(data_dir: Path) -> bytes:
    files = [path for path in data_dir.rglob("*.db*") if path.is_file()]
    assert files, f"no SQLite file under {data_dir}"
    return b"".join(path.read_bytes() for path in files)


async def test_no_secret_in_the_database_or_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.call_tool("get_issue", {"key": "ENG-1"})
            await client.call_tool("search_issues", {"jql": "project = NOPE"})
        stored = product.storages["alice@example.com"].tokens
        assert stored is not None and stored.refresh_token
        issued = product.sim.tokens
        secrets = {
            APP_SECRET,
            stored.access_token,
            stored.refresh_token,
            *issued._access,  # every Atlassian access token the simulator issued
            *issued._refresh,  # and every refresh token
        }
        assert len(secrets) >= 5
    database = _database_bytes(tmp_path / "gw")
    assert b"alice@example.com" in database  # the right file: it holds the user it signed in
    log = caplog.text
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in log
