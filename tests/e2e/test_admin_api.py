"""The admin API as served by the gateway app: key required, and a policy saved through it applies at once."""

from __future__ import annotations

from pathlib import Path

from policyarc.admin import create_admin_key
from policyarc.policy import Rule, rules_to_cedar
from tests.e2e.harness import running_product
from tests.e2e.test_mcp_flow import ALL


async def test_admin_api_needs_a_key_and_policy_changes_apply_to_live_tokens(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        async with product.gateway.sessions.begin() as session:
            _, key = await create_admin_key(session, "e2e admin")
        admin = {"Authorization": f"Bearer {key}"}
        async with product.raw() as http:
            assert (await http.get("/api/v1/environments")).status_code == 401
            listed = await http.get("/api/v1/environments", headers=admin)
            assert listed.status_code == 200, listed.text
            assert "default" in listed.text
            openapi = await http.get("/api/v1/openapi.json", headers=admin)
            assert openapi.json()["openapi"].startswith("3.1")

            grant_all = rules_to_cedar([Rule(effect="permit", scopes=tuple(ALL.split()))])
            saved = await http.put("/api/v1/environments/default/policy", json={"text": grant_all}, headers=admin)
            assert saved.status_code == 200, saved.text
            async with product.client("alice@example.com", scope=ALL) as client:
                assert len((await client.list_tools()).tools) == 7
                forbid_write = (
                    grant_all + '\nforbid (principal, action, resource == PolicyArc::Scope::"jira:issues:write");\n'
                )
                saved = await http.put(
                    "/api/v1/environments/default/policy", json={"text": forbid_write}, headers=admin
                )
                assert saved.status_code == 200, saved.text
                # No reload call here: the API's listener applied the new version on this instance at once.
                refused = await client.call_tool("create_issue", {"project": "ENG", "summary": "no"})
                assert refused.is_error
                assert "Policy no longer grants jira:issues:write" in refused.content[0].text
            invalid = await http.put(
                "/api/v1/environments/default/policy", json={"text": "permit(principal"}, headers=admin
            )
            assert invalid.status_code == 400
            assert invalid.headers["content-type"].startswith("application/problem+json")
            changes = await http.get("/api/v1/changes", headers=admin)
            assert "e2e admin" in changes.text
