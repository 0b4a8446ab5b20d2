"""Each call runs upstream as its own caller: interleaved calls of two users never borrow each other's token,
and the gateway token never leaves the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcp.client import Client

from policyarc.sim.atlassian.hooks import mask
from tests.e2e.harness import running_product


async def test_interleaved_calls_of_two_users_each_run_as_their_own_user(tmp_path: Path) -> None:
    # alice may browse SEC, bob may not: a call sent with the other user's token would flip the outcome.
    async with (
        # 30 calls per user at once: over the default quota of 20 a second per user, which is not this test's subject.
        running_product(tmp_path, quota_user_per_second=0) as product,
        product.client("alice@example.com") as alice,
        product.client("bob@example.com") as bob,
    ):

        async def look(client: Client, visible: bool) -> None:
            result = await client.call_tool("get_issue", {"key": "SEC-1"})
            assert result.is_error is not visible, result.content

        await asyncio.gather(*(look(alice, True) if n % 2 else look(bob, False) for n in range(60)))
        sent = product.sim_app.state.hooks.requests.entries(path="/api/ex/jira/*")
        assert len(sent) >= 60
        bearers = {entry["headers"]["authorization"] for entry in sent}
        assert len(bearers) == 2  # one Atlassian token per user, nothing shared
        gateway_tokens = {mask(product.token_of("alice@example.com")), mask(product.token_of("bob@example.com"))}
        assert not {bearer.removeprefix("Bearer ") for bearer in bearers} & gateway_tokens
