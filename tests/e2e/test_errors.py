"""Every error path a user can meet through the gateway, end to end against the simulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from policyarc.app import Gateway, create_app
from policyarc.mcp_endpoint import AUDIT_FAILED
from policyarc.sim.atlassian import SimConfig
from policyarc.store.models import UpstreamLink
from tests.e2e.harness import GATEWAY, Product, running_product
from tests.e2e.test_mcp_flow import ALL, grant_everything

CALL_CREATE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "create_issue", "arguments": {"project": "ENG", "summary": "x"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


async def signed_in(product: Product, email: str = "alice@example.com", scope: str | None = None) -> str:
    async with product.client(email, scope=scope) as client:
        await client.list_tools()
    return product.token_of(email)


async def test_no_token_is_a_401_pointing_at_the_resource_metadata(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.raw() as http:
        response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 401
        assert (
            'resource_metadata="https://gw.test/.well-known/oauth-protected-resource/mcp"'
            in (response.headers["www-authenticate"])
        )
        bogus = await http.post("/mcp", json={}, headers={"Authorization": "Bearer pa_at_forged"})
        assert bogus.status_code == 401
        assert 'error="invalid_token"' in bogus.headers["www-authenticate"]


async def test_tool_outside_the_token_scopes_is_a_403_naming_the_scope(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        token = await signed_in(product)  # default policy: jira:issues:read only
        async with product.raw() as http:
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
            by_body = await http.post("/mcp", json=CALL_CREATE, headers=headers)
            modern = {**headers, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
            by_header = await http.post("/mcp", json=CALL_CREATE, headers={**modern, "Mcp-Name": "create_issue"})
        for response in (by_body, by_header):
            assert response.status_code == 403
            challenge = response.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in challenge
            assert "jira:issues:write" in challenge
            assert response.json()["error_description"] == "'create_issue' needs the scope jira:issues:write"


async def test_oversized_body_is_refused(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        token = await signed_in(product)
        async with product.raw() as http:
            huge = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' + b"x" * 1_100_000 + b'"}}'
            response = await http.post(
                "/mcp", content=huge, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 413


async def test_a_policy_change_applies_to_a_live_token(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            assert len((await client.list_tools()).tools) == 7
            from policyarc.policy import DEFAULT_POLICY
            from policyarc.services.environments import ensure_environment
            from policyarc.services.policies import gateway_scopes, set_policy

            async with product.gateway.sessions() as session:
                environment = await ensure_environment(session)
                await set_policy(session, environment, DEFAULT_POLICY, scopes=gateway_scopes(), actor="test")
            await product.gateway.policy_watcher.reload()
            refused = await client.call_tool("create_issue", {"project": "ENG", "summary": "after the change"})
            assert refused.is_error
            assert "Policy no longer grants jira:issues:write" in refused.content[0].text
            assert {t.name for t in (await client.list_tools()).tools} == {
                "search_issues",
                "get_issue",
                "get_transitions",
            }


async def test_bad_input_gets_specific_tool_errors(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.client("alice@example.com") as client:
        bad_jql = await client.call_tool("search_issues", {"jql": "project = FOO"})
        assert bad_jql.is_error
        assert bad_jql.content[0].text == "JQL: The value 'FOO' does not exist for the field 'project'."
        bad_key = await client.call_tool("get_issue", {"key": "not a key"})
        assert bad_key.is_error
        assert bad_key.content[0].text.startswith("Invalid arguments for get_issue: key:")
        unknown = await client.call_tool("get_issue", {"key": "ENG-99999"})
        assert "Issue does not exist or you do not have permission to see it." in unknown.content[0].text
        extra = await client.call_tool("get_issue", {"key": "ENG-1", "surprise": True})
        assert "surprise" in extra.content[0].text


async def test_jira_5xx_on_a_read_is_retried_then_reported(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.client("alice@example.com") as client:
        await product.sim_hook(
            "POST", "/_sim/faults", {"path": "*/issue/ENG-1", "kind": "error", "status": 503, "count": 1}
        )
        recovered = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert not recovered.is_error
        await product.sim_hook("POST", "/_sim/faults", {"path": "*/issue/ENG-1", "kind": "error", "status": 502})
        failed = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert failed.is_error
        assert "try again" in failed.content[0].text.lower()


async def test_jira_rate_limit_beyond_the_retry_bound_tells_when_to_retry(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.client("alice@example.com") as client:
        await product.sim_hook(
            "POST", "/_sim/faults", {"path": "*/search/jql", "kind": "rate_limit", "retry_after": 120}
        )
        limited = await client.call_tool("search_issues", {"jql": "project = ENG"})
        assert limited.is_error
        assert "rate-limiting" in limited.content[0].text
        assert "Retry in 120 s" in limited.content[0].text


async def test_a_jira_429_pauses_the_site_so_the_next_call_fails_fast_until_retry_after(tmp_path: Path) -> None:
    jira_issues = "/_sim/requests?path=/api/ex/jira/*"
    async with running_product(tmp_path) as product, product.client("alice@example.com") as client:
        quota = product.gateway_app.state.quota
        now = quota.clock()
        quota.clock = lambda: now  # the pause's clock, held still and moved by hand: nothing waits
        await product.sim_hook(
            "POST", "/_sim/faults", {"path": "*/issue/*", "kind": "rate_limit", "retry_after": 120, "count": 1}
        )
        limited = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert limited.is_error and "Retry in 120 s" in limited.content[0].text
        sent = len((await product.sim_hook("GET", jira_issues))["requests"])
        paused = await client.call_tool("search_issues", {"jql": "project = ENG"})
        assert paused.is_error
        assert "pauses calls to it. Retry in 120 s." in paused.content[0].text
        assert len((await product.sim_hook("GET", jira_issues))["requests"]) == sent  # nothing reached Jira
        quota.clock = lambda: now + 120
        resumed = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert not resumed.is_error
        assert len((await product.sim_hook("GET", jira_issues))["requests"]) == sent + 1


async def test_write_is_not_retried_after_a_5xx(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            await product.sim_hook(
                "POST", "/_sim/faults", {"path": "*/rest/api/3/issue", "method": "POST", "kind": "error", "status": 503}
            )
            before = len(
                (await product.sim_hook("GET", "/_sim/requests?path=/api/ex/jira/*/rest/api/3/issue"))["requests"]
            )
            failed = await client.call_tool("create_issue", {"project": "ENG", "summary": "once only"})
            after = len(
                (await product.sim_hook("GET", "/_sim/requests?path=/api/ex/jira/*/rest/api/3/issue"))["requests"]
            )
            assert failed.is_error
            assert after - before == 1


async def test_revoked_atlassian_grant_asks_the_user_to_sign_in_again(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product, product.client("alice@example.com") as client:
        assert not (await client.call_tool("get_issue", {"key": "ENG-1"})).is_error
        await product.sim_hook("POST", "/_sim/tokens/revoke", {"email": "alice@example.com"})
        revoked = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert revoked.is_error
        assert "sign in again" in revoked.content[0].text.lower()
        again = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert "sign in again" in again.content[0].text.lower()


async def test_expiring_atlassian_token_is_refreshed_transparently(tmp_path: Path) -> None:
    # Tokens that live 100 s are inside the vault's refresh margin at once: every call path refreshes.
    async with running_product(tmp_path, sim_config=SimConfig(rate_limits_enabled=False, token_ttl=100)) as product:
        async with product.client("alice@example.com") as client:
            result = await client.call_tool("get_issue", {"key": "ENG-1"})
            assert not result.is_error, result.content
        refreshes = [
            r
            for r in (await product.sim_hook("GET", "/_sim/requests?path=/auth/oauth/token"))["requests"]
            if "refresh_token" in str(r.get("body"))
        ]
        assert len(refreshes) >= 1


@pytest.mark.parametrize("fast_path", [True, False])
async def test_no_result_without_its_audit_record(tmp_path: Path, fast_path: bool) -> None:
    async with running_product(tmp_path, fast_path=fast_path) as product, product.client("alice@example.com") as client:
        assert not (await client.call_tool("get_issue", {"key": "ENG-1"})).is_error
        await product.gateway.audit.aclose()  # the audit log stops taking records
        withheld = await client.call_tool("get_issue", {"key": "ENG-1"})
        assert withheld.is_error
        assert withheld.content[0].text == AUDIT_FAILED
        assert withheld.structured_content is None


@contextlib.asynccontextmanager
async def another_instance(product: Product) -> AsyncIterator[Starlette]:
    """A second gateway on the same database and key ring: another process behind the load balancer."""
    app = create_app(product.gateway.settings, upstream=httpx.ASGITransport(product.sim_app))
    async with app.router.lifespan_context(app):
        yield app


async def call_on(app: Starlette, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=GATEWAY) as http:
        response = await http.post("/mcp", json=message, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("get_issue", {"key": "ENG-1"}), ("create_issue", {"project": "ENG", "summary": "right after signing in again"})],
)
async def test_right_after_signing_in_again_another_instance_does_not_ask_again(
    tmp_path: Path, tool: str, arguments: dict[str, Any]
) -> None:
    alice = "alice@example.com"
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client(alice, scope=ALL) as client:
            assert not (await client.call_tool("get_issue", {"key": "ENG-1"})).is_error
        async with another_instance(product) as other:
            # Within its cache window (30 s by default; stretched so a slow machine cannot outlast it) instance B
            # keeps using the Atlassian token it read last.
            other_gateway: Gateway = other.state.gateway
            other_gateway.vault._recheck_after = 3600
            assert not (await call_on(other, product.token_of(alice), "get_issue", {"key": "ENG-1"})).get("isError")
            await product.sim_hook("POST", "/_sim/tokens/revoke", {"email": alice})  # she removed the app at Atlassian
            async with product.client(alice, scope=ALL) as client:
                refused = await client.call_tool("get_issue", {"key": "ENG-1"})
            assert "sign in again" in refused.content[0].text.lower()  # instance A says so, and marks the link
            product.storages.pop(alice)
            async with product.client(alice, scope=ALL) as client:  # she signs in again, through instance A
                await client.list_tools()

            answer = await call_on(other, product.token_of(alice), tool, arguments)  # B: its cached token is refused

            assert not answer.get("isError"), answer  # B re-read the link and sent the call again with the new token
            async with product.gateway.sessions() as db:
                link = await db.scalar(select(UpstreamLink))
            assert link is not None and link.status == "active"
            if tool == "create_issue":  # a 401 means Jira ran nothing: the write was sent again, and made once
                issues = product.sim.world.sites["acme"].issues.values()
                assert [i.key for i in issues if i.summary == arguments["summary"]] == [
                    answer["structuredContent"]["key"]
                ]
