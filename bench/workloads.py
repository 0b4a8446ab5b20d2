"""What each system is asked for each workload: the MCP tool calls (PolicyArc, mcp-atlassian, the bare SDK
server) and the equivalent upstream request straight to the simulator (the direct floor).

The MCP calls are JSON-RPC over Streamable HTTP, stateless: protocol revision 2025-11-25 in the header, no
session, no initialize (the three servers are stateless and accept that). The direct floor sends exactly the
Jira REST v3 request the gateway's tool sends (connectors/jira/tools.py), with the same user's Atlassian token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from loadgen import Request
from rawhttp import encode_head

PROTOCOL = "2025-11-25"
ACME_CLOUD_ID = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
V3 = f"/api/ex/jira/{ACME_CLOUD_ID}/rest/api/3"
ISSUE = "ENG-1"
JQL = "project = ENG ORDER BY key"  # 120 issues in the seed: a page of 20
CREATE_PROJECT = "OPS"  # created issues go to OPS, so the ENG search keeps its cost through the run
SUMMARY = "Benchmark issue"
WORKLOADS = ("get_issue", "search_issues", "create_issue")

# Each MCP system's tool names and arguments for a workload.
MCP_CALLS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "policyarc": {
        # With comments: mcp-atlassian's jira_get_issue returns them by default, so both carry the same facts.
        "get_issue": ("get_issue", {"key": ISSUE, "include_comments": True}),
        "search_issues": ("search_issues", {"jql": JQL, "max_results": 20}),
        "create_issue": ("create_issue", {"project": CREATE_PROJECT, "summary": SUMMARY, "issue_type": "Task"}),
    },
    "mcp-atlassian": {
        "get_issue": ("jira_get_issue", {"issue_key": ISSUE}),
        "search_issues": ("jira_search", {"jql": JQL, "limit": 20}),
        "create_issue": (
            "jira_create_issue",
            {"project_key": CREATE_PROJECT, "summary": SUMMARY, "issue_type": "Task"},
        ),
    },
}
MCP_CALLS["bare"] = MCP_CALLS["policyarc"]
MCP_CALLS["policyarc-2w"] = MCP_CALLS["policyarc"]

DETAIL_FIELDS = (
    "summary,status,assignee,reporter,priority,issuetype,labels,created,updated,resolution,duedate,parent,"
    "subtasks,description,comment"
)
ROW_FIELDS = ["summary", "status", "assignee", "priority", "issuetype", "updated", "labels"]


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str  # /mcp for the MCP systems

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message, separators=(",", ":")).encode()


def mcp_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL,
    }


def mcp_request(target: Target, token: str, method: str, params: dict[str, Any] | None = None) -> Request:
    return Request(encode_head("POST", target.path, target.authority, mcp_headers(token)), rpc(method, params))


def tool_request(system: str, workload: str, target: Target, token: str) -> Request:
    name, arguments = MCP_CALLS[system][workload]
    return mcp_request(target, token, "tools/call", {"name": name, "arguments": arguments})


def direct_request(workload: str, target: Target, token: str) -> Request:
    # Every other system under test asks for gzip (the gateway, httpx in the bare server, requests in
    # mcp-atlassian), so the simulator compresses for them; the baseline asks too, so it pays the same upstream.
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
    if workload == "get_issue":
        path = f"{V3}/issue/{ISSUE}?" + urlencode({"fields": DETAIL_FIELDS})
        return Request(encode_head("GET", path, target.authority, headers), b"")
    headers["Content-Type"] = "application/json"
    if workload == "search_issues":
        body: dict[str, Any] = {"jql": JQL, "maxResults": 20, "fields": ROW_FIELDS}
        path = f"{V3}/search/jql"
    else:
        fields = {"project": {"key": CREATE_PROJECT}, "issuetype": {"name": "Task"}, "summary": SUMMARY}
        body, path = {"fields": fields}, f"{V3}/issue"
    return Request(encode_head("POST", path, target.authority, headers), json.dumps(body).encode())


def mcp_ok(status: int, body: bytes) -> bool:
    """A tool call that succeeded: HTTP 200, a JSON-RPC result, not a tool error."""
    return status == 200 and b'"result"' in body and b'"isError":true' not in body


def direct_ok(status: int, body: bytes) -> bool:
    return status in (200, 201)


def jsonrpc_payload(body: bytes) -> dict[str, Any]:
    """The JSON-RPC message of a response, whether sent as JSON or as a one-event SSE stream."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        message: dict[str, Any] = json.loads(text)
        return message
    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    message = json.loads("".join(data))
    return message
