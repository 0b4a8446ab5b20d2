"""The gateway's edge: the first 401's scope and step-up (finding 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from policyarc.policy import Rule, rules_to_cedar
from policyarc.store.models import AccessToken
from tests.e2e.harness import Product, running_product
from tests.e2e.test_mcp_flow import grant_everything

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
READ_TOOLS = {"search_issues", "get_issue", "get_transitions"}
ALL_TOOLS = READ_TOOLS | {"create_issue", "update_issue", "transition_issue", "list_projects"}


async def token_scopes(product: Product, token: str) -> set[str]:
    from policyarc.secrets import hash_token

    async with product.gateway.sessions() as session:
        scopes = await session.scalar(select(AccessToken.scopes).where(AccessToken.token_hash == hash_token(token)))
    assert scopes is not None
    return set(scopes.split())


async def listed(product: Product, token: str) -> tuple[int, Any]:
    async with product.raw() as http:
        response = await http.post("/mcp", json=LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    return response.status_code, orjson.loads(response.content)


# Finding 11: least privilege first, then step up.


async def test_the_first_401_names_the_default_scope(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.raw() as http:
        anonymous = await http.post("/mcp", json=LIST, headers=MCP_HEADERS)
        forged = await http.post("/mcp", json=LIST, headers={**MCP_HEADERS, "Authorization": "Bearer pa_at_forged"})
    assert anonymous.status_code == forged.status_code == 401
    assert 'scope="jira:issues:read"' in anonymous.headers["www-authenticate"]
    assert 'error="invalid_token"' not in anonymous.headers["www-authenticate"]
    assert 'scope="jira:issues:read"' in forged.headers["www-authenticate"]
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_read_only_token_sees_what_policy_grants_and_steps_up_to_write(tmp_path: Path, fast_path: bool) -> None:
    async with running_product(tmp_path, fast_path=fast_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com") as client:  # asks for what the 401 names
            first = product.token_of("alice@example.com")
            assert await token_scopes(product, first) == {"jira:issues:read"}
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == ALL_TOOLS  # policy grants them: listed, so a client can reach the step-up
            status, raw = await listed(product, first)
            assert status == 200
            assert {tool["name"] for tool in raw["result"]["tools"]} == ALL_TOOLS
            async with product.raw() as http:
                call = {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "create_issue", "arguments": {"project": "ENG", "summary": "x"}},
                }
                refused = await http.post(
                    "/mcp", json=call, headers={**MCP_HEADERS, "Authorization": f"Bearer {first}"}
                )
            assert refused.status_code == 403
            assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
            # The SDK's client steps up on that 403 (a second consent), then the call goes through.
            created = await client.call_tool("create_issue", {"project": "ENG", "summary": "after step-up"})
            assert not created.is_error, created.content
        stepped_up = product.token_of("alice@example.com")
        assert stepped_up != first
        assert {"jira:issues:read", "jira:issues:write"} <= await token_scopes(product, stepped_up)


async def test_a_tool_policy_does_not_grant_stays_hidden(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        no_write = rules_to_cedar([Rule(effect="permit", scopes=("jira:issues:read", "jira:projects:read"))])
        from policyarc.services.environments import ensure_environment
        from policyarc.services.policies import gateway_scopes, set_policy

        async with product.gateway.sessions() as session:
            environment = await ensure_environment(session)
            await set_policy(session, environment, no_write, scopes=gateway_scopes(), actor="test")
        await product.gateway.policy_watcher.reload()
        async with product.client("alice@example.com") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == READ_TOOLS | {"list_projects"}


async def test_listings_are_built_once_per_granted_scope_set(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        token = product.token_of("alice@example.com")
        first = await listed(product, token)
        second = await listed(product, token)
        assert first == second
        fast_path = _fast_path(product)
        assert len(fast_path._listings) == 1  # one serialised listing for one scope set, shared by both calls


def _fast_path(product: Product) -> Any:
    for route in product.gateway_app.routes:
        if getattr(route, "path", None) == "/mcp":
            app = route.app  # type: ignore[attr-defined]
            while not hasattr(app, "_fast_path"):
                app = app.app  # through the guards in front of the endpoint
            return app._fast_path
    raise AssertionError("no /mcp route")
