"""`policyarc env list` and `env create`, and the MCP URL the CLI prints for an environment's connector."""

from __future__ import annotations

import json
from typing import Any

from tests.test_cli_admin import cli, fails, ok  # noqa: F401 - `cli` is the fixture

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"


def test_env_create_list_and_the_connectors_mcp_url(cli: Any) -> None:  # noqa: F811
    created = ok(cli("env", "create", "staging"))
    assert "MCP URL: https://gw.example.com/mcp/staging" in created.stdout
    listed = ok(cli("env", "list")).stdout
    assert "https://gw.example.com/mcp " in listed and "https://gw.example.com/mcp/staging" in listed
    views = {view["name"]: view for view in json.loads(ok(cli("env", "list", "--json")).stdout)}
    assert views["staging"]["mcp_url"] == "https://gw.example.com/mcp/staging" and views["staging"]["connectors"] == 0
    added = ok(cli("connector", "add", "jira", "--env", "staging", "--site", "acme", "--cloud-id", ACME))
    assert "MCP URL: https://gw.example.com/mcp/staging" in added.stdout
    fails(cli("env", "create", "staging"), "There is already an environment named staging.")
    fails(cli("env", "create", "Not Valid"), "An environment name is 1-63 lowercase letters")
