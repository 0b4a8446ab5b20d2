"""The framework floor: a bare MCP SDK server whose tools each make the gateway's upstream call and nothing else.

The low-level `mcp.server.Server` behind a stateless, JSON-response `StreamableHTTPSessionManager` (as the
gateway), served by uvicorn on uvloop and httptools (as `policyarc serve`), one pooled `httpx.AsyncClient`
upstream. The caller's Authorization header is forwarded as is (the client sends its Atlassian token); no
token lookup, policy, vault, audit or result shaping: what is left is the cost of the SDK, the ASGI server and
httpx. Each tool returns Jira's JSON unchanged as text.

    .venv/bin/python bench/bare_server.py --port 8300 --api-url http://127.0.0.1:9400/api --cloud-id ...
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import httpx
import mcp_types as types
import orjson
import uvicorn
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

# The same upstream requests as the gateway's tools (connectors/jira/tools.py).
ROW_FIELDS = ["summary", "status", "assignee", "priority", "issuetype", "updated", "labels"]
DETAIL_FIELDS = (
    "summary,status,assignee,reporter,priority,issuetype,labels,created,updated,resolution,duedate,parent,"
    "subtasks,description,comment"
)
OBJECT: dict[str, Any] = {"type": "object"}
TOOLS = [
    types.Tool(name="get_issue", description="Get a Jira issue by key.", input_schema=OBJECT),
    types.Tool(name="search_issues", description="Search Jira issues with JQL.", input_schema=OBJECT),
    types.Tool(name="create_issue", description="Create a Jira issue.", input_schema=OBJECT),
]


def build(api_url: str, cloud_id: str) -> tuple[StreamableHTTPSessionManager, httpx.AsyncClient]:
    base = f"{api_url.rstrip('/')}/ex/jira/{cloud_id}/rest/api/3"
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=100), timeout=30)

    async def upstream(ctx: ServerRequestContext[Any], method: str, path: str, **kwargs: Any) -> Any:
        request = ctx.request
        authorization = request.headers.get("authorization", "") if request is not None else ""
        headers = {"Authorization": authorization, "Accept": "application/json"}
        if "json" in kwargs:
            kwargs["content"] = orjson.dumps(kwargs.pop("json"))
            headers["Content-Type"] = "application/json"
        response = await http.request(method, base + path, headers=headers, **kwargs)
        response.raise_for_status()
        return response.content

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def on_call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        if params.name == "get_issue":
            body = await upstream(ctx, "GET", f"/issue/{args['key']}", params={"fields": DETAIL_FIELDS})
        elif params.name == "search_issues":
            query = {"jql": args["jql"], "maxResults": args.get("max_results", 20), "fields": ROW_FIELDS}
            body = await upstream(ctx, "POST", "/search/jql", json=query)
        elif params.name == "create_issue":
            fields = {
                "project": {"key": args["project"]},
                "issuetype": {"name": args.get("issue_type", "Task")},
                "summary": args["summary"],
            }
            body = await upstream(ctx, "POST", "/issue", json={"fields": fields})
        else:
            return types.CallToolResult(content=[types.TextContent(text="unknown tool")], is_error=True)
        return types.CallToolResult(content=[types.TextContent(text=body.decode())])

    server: Server[Any] = Server("bare", version="0", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
    return StreamableHTTPSessionManager(app=server, stateless=True, json_response=True), http


def create_app(api_url: str, cloud_id: str) -> Any:
    manager, http = build(api_url, cloud_id)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await manager.handle_request(scope, receive, send)

    async def lifespan(receive: Receive, send: Send) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(manager.run())
            stack.push_async_callback(http.aclose)
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--cloud-id", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.api_url, args.cloud_id),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
