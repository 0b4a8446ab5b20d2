"""End to end: the MCP SDK's own client signs in through the gateway (MCP authorization, federated to the
Atlassian simulator) and calls the Jira tools as alice and as bob."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Product, running_product

ALL = "jira:issues:read jira:issues:write jira:projects:read"


async def grant_everything(product: Product) -> None:
    """A policy that grants every scope to everyone (the default grants only jira:issues:read)."""
    from policyarc.policy import Rule, rules_to_cedar
    from policyarc.services.environments import ensure_environment
    from policyarc.services.policies import gateway_scopes, set_policy

    text = rules_to_cedar([Rule(effect="permit", scopes=tuple(gateway_scopes()))])
    async with product.gateway.sessions() as session:
        environment = await ensure_environment(session)
        await set_policy(session, environment, text, scopes=gateway_scopes(), actor="test")
    await product.gateway.policy_watcher.reload()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_default_policy_gives_read_tools_only(tmp_path: Path, mode: str) -> None:
    # The product runs inside the test: its lifespan must start and stop in one task.
    async with running_product(tmp_path) as product, product.client("alice@example.com", mode=mode) as client:
        tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        assert names == {"search_issues", "get_issue", "get_transitions"}
        result = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert not result.is_error, result.content
        assert result.structured_content["key"] == "ENG-1"


async def test_alice_searches_creates_and_transitions_as_herself(tmp_path: Path) -> None:
    # The product runs inside the test: its lifespan must start and stop in one task.
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            found = await client.call_tool("search_issues", {"jql": "project = ENG ORDER BY key ASC", "max_results": 5})
            assert [row["key"] for row in found.structured_content["issues"]] == [f"ENG-{n}" for n in range(1, 6)]
            created = await client.call_tool(
                "create_issue", {"project": "ENG", "summary": "Made through the gateway", "description": "*hello*"}
            )
            assert not created.is_error, created.content
            key = created.structured_content["key"]
            issue = product.sim.world.sites["acme"].issues[key]
            assert issue.reporter_id == "712020:a11ce000-0000-4000-8000-000000000001"  # as alice, not a service account
            moved = await client.call_tool("transition_issue", {"key": key, "transition": "start progress"})
            assert moved.structured_content["status"] == "In Progress"
            projects = await client.call_tool("list_projects", {})
            assert {p["key"] for p in projects.structured_content["projects"]} == {"ENG", "OPS", "MKT", "SEC"}


async def test_bob_through_the_same_gateway_sees_only_his_projects(tmp_path: Path) -> None:
    # The product runs inside the test: its lifespan must start and stop in one task.
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client("bob@example.com", scope=ALL) as client:
            projects = await client.call_tool("list_projects", {})
            assert {p["key"] for p in projects.structured_content["projects"]} == {"ENG", "OPS", "MKT"}
            hidden = await client.call_tool("get_issue", {"key": "SEC-1"})
            assert hidden.is_error
            assert "does not exist or you do not have permission" in hidden.content[0].text
            refused = await client.call_tool("create_issue", {"project": "MKT", "summary": "bob cannot write here"})
            assert refused.is_error


async def test_gateway_token_never_reaches_jira(tmp_path: Path) -> None:
    # The product runs inside the test: its lifespan must start and stop in one task.
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.call_tool("get_issue", {"key": "ENG-1"})
        stored = product.storages["alice@example.com"].tokens
        assert stored is not None
        sent = [entry for entry in product.sim_app.state.hooks.requests.entries()]
        assert sent, "the simulator saw no request"
        for entry in sent:
            assert stored.access_token not in str(entry)


async def test_audit_records_each_call(tmp_path: Path) -> None:
    # The product runs inside the test: its lifespan must start and stop in one task.
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.call_tool("get_issue", {"key": "ENG-1"})
            await client.call_tool("get_issue", {"key": "NOPE-1"})
        from sqlalchemy import select

        from policyarc.store.models import AuditRecord

        async with product.gateway.sessions() as session:
            rows = (await session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all()
        assert [(r.tool, r.decision, r.upstream_status) for r in rows] == [
            ("get_issue", "allowed", 200),
            ("get_issue", "allowed", 404),
        ]


async def test_the_whole_flow_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    async with running_product(tmp_path, database_url=pg_url) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            created = await client.call_tool("create_issue", {"project": "OPS", "summary": "Stored in PostgreSQL"})
            assert not created.is_error, created.content
        async with product.client("bob@example.com", scope=ALL) as client:
            hidden = await client.call_tool("get_issue", {"key": "SEC-1"})
            assert hidden.is_error
