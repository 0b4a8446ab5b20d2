"""Periodic: rounds keep coming after a failure, and the first wait is where it was asked for."""

from __future__ import annotations

import asyncio
import logging

import pytest

from policyarc.periodic import Periodic


async def test_a_failed_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise RuntimeError("database restarting")

    periodic = Periodic(
        work, interval=0.01, name="t", failure="round failed", logger=logging.getLogger("t"), run_first=True
    )
    periodic.start()
    for _ in range(200):
        if rounds >= 3:
            break
        await asyncio.sleep(0.01)
    await periodic.aclose()
    assert rounds >= 3
    assert [r.getMessage() for r in caplog.records if r.name == "t"] == ["round failed"]


async def test_without_run_first_the_first_round_waits_an_interval() -> None:
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1

    periodic = Periodic(work, interval=60, name="t", failure="x", logger=logging.getLogger("t"), run_first=False)
    periodic.start()
    await asyncio.sleep(0.05)
    await periodic.aclose()
    assert rounds == 0
    await periodic.aclose()  # closing twice is harmless


async def test_a_database_outage_is_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import exc as sa_exc

    failures: list[BaseException] = [
        sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed")),
        RuntimeError("a bug"),
    ]
    done = asyncio.Event()

    async def work() -> None:
        if failures:
            raise failures.pop(0)
        done.set()

    periodic = Periodic(
        work, interval=0, name="t", failure="round failed", logger=logging.getLogger("t"), run_first=True
    )
    periodic.start()
    await asyncio.wait_for(done.wait(), timeout=10)
    await periodic.aclose()
    records = [r for r in caplog.records if r.name == "t"]
    assert [r.getMessage() for r in records] == [
        "round failed (ConnectionRefusedError: [Errno 111] Connect call failed)",
        "round failed",
    ]
    assert records[0].exc_info is None  # an outage: its words, no traceback every round
    assert records[1].exc_info is not None  # a bug keeps its traceback
