"""The tool pipeline reaches connectors only through `connectors.base.Connection`; Jira's implementation reads its
own errors."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

import policyarc.mcp_endpoint
from policyarc.connectors.jira.client import JiraClient
from policyarc.connectors.jira.connection import JiraConnection
from policyarc.connectors.jira.errors import JiraBadRequest, JiraNotFound, JiraRateLimited, JiraUnauthorized

JIRA = JiraConnection("env", "acme", "cloud", "https://acme.atlassian.net", cast(JiraClient, object()))


def test_the_pipeline_imports_no_connector_of_its_own() -> None:
    tree = ast.parse(Path(policyarc.mcp_endpoint.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not [name for name in imported if name.startswith("policyarc.connectors.jira")]


def test_a_refused_token_is_told_from_a_scope_mismatch_and_other_errors() -> None:
    assert JIRA.refused_token(JiraUnauthorized(401, ["Unauthorized"]))
    assert not JIRA.refused_token(JiraUnauthorized(401, ["Unauthorized; scope does not match"]))
    assert not JIRA.refused_token(JiraNotFound(404, ["Issue does not exist"]))
    assert not JIRA.refused_token(RuntimeError("not Jira's"))


def test_jira_errors_read_as_tool_failures_and_other_errors_are_not_its_own() -> None:
    reconnect = JIRA.failure("get_issue", JiraUnauthorized(401, ["Unauthorized"]))
    assert reconnect is not None and reconnect.code == "reconnect_required" and reconnect.upstream_status == 401
    scope = JIRA.failure("get_issue", JiraUnauthorized(401, ["Unauthorized; scope does not match"]))
    assert scope is not None and scope.code == "upstream_scope"
    limited = JIRA.failure("get_issue", JiraRateLimited(429, ["Slow down."], retry_after=7))
    assert limited is not None and limited.message.endswith("Retry in 7 s.")
    jql = JIRA.failure("search_issues", JiraBadRequest(400, ["Field 'x' does not exist."]))
    assert jql is not None and jql.message == "JQL: Field 'x' does not exist."
    assert JIRA.failure("get_issue", ValueError("a bug")) is None
    assert JIRA.context("t0k", "acct").cloud_id == "cloud"
