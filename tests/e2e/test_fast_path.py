"""The fast path answers tools/call and tools/list exactly as the SDK's transport does, and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.harness import Product, running_product
from tests.e2e.test_mcp_flow import ALL, grant_everything

HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
MESSAGES: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    {
        "jsonrpc": "2.0",
        "id": "two",
        "method": "tools/call",
        "params": {"name": "get_issue", "arguments": {"key": "ENG-1"}},
    },
    {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "get_issue", "arguments": {"key": "bad key"}},
    },
    {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
    {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "tools/call",
        "params": {"name": "search_issues", "arguments": {"jql": "project = FOO"}},
    },
    {
        "jsonrpc": "2.0",
        "id": 6,
        "method": "tools/call",
        "params": {"name": "create_issue", "arguments": {"project": "ENG", "summary": "same"}},
    },
    {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_projects"}},
]


async def answers(tmp_path: Path, *, fast_path: bool) -> tuple[list[Any], int]:
    async with running_product(tmp_path / str(fast_path), fast_path=fast_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            await client.list_tools()
        sdk_calls = count_sdk_calls(product)
        headers = {**HEADERS, "Authorization": f"Bearer {product.token_of('alice@example.com')}"}
        out = []
        async with product.raw() as http:
            for message in MESSAGES:
                response = await http.post("/mcp", json=message, headers=headers)
                out.append((response.status_code, response.headers["content-type"], orjson.loads(response.content)))
        return out, sdk_calls()


def count_sdk_calls(product: Product) -> Any:
    manager = product.gateway.session_manager
    original = manager.handle_request
    calls = {"n": 0}

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        calls["n"] += 1
        await original(scope, receive, send)

    manager.handle_request = counting  # type: ignore[method-assign]
    return lambda: calls["n"]


async def test_fast_path_answers_as_the_sdk_does(tmp_path: Path) -> None:
    fast, sdk_used_with_fast_path = await answers(tmp_path, fast_path=True)
    slow, sdk_used_without = await answers(tmp_path, fast_path=False)
    assert sdk_used_with_fast_path == 0
    assert sdk_used_without == len(MESSAGES)
    for message, fast_answer, sdk_answer in zip(MESSAGES, fast, slow, strict=True):
        assert fast_answer == sdk_answer, message


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"MCP-Protocol-Version": "2026-07-28"}, MESSAGES[0]),  # the newest revision: the SDK's own path
        ({}, {"jsonrpc": "2.0", "id": 1, "method": "ping"}),  # not a hot method
        ({}, [MESSAGES[0]]),  # a batch
        ({"Mcp-Session-Id": "abc"}, MESSAGES[0]),  # a session the SDK knows about (or refuses)
    ],
)
async def test_everything_else_goes_to_the_sdk(tmp_path: Path, headers: dict[str, str], body: Any) -> None:
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        sdk_calls = count_sdk_calls(product)
        async with product.raw() as http:
            token = product.token_of("alice@example.com")
            await http.post("/mcp", json=body, headers={**HEADERS, **headers, "Authorization": f"Bearer {token}"})
        assert sdk_calls() == 1


async def test_fast_path_keeps_the_transport_checks(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        token = product.token_of("alice@example.com")
        async with product.raw() as http:
            auth = {**HEADERS, "Authorization": f"Bearer {token}"}
            evil_origin = await http.post("/mcp", json=MESSAGES[0], headers={**auth, "Origin": "https://evil.example"})
            assert evil_origin.status_code == 403
            no_json = await http.post("/mcp", json=MESSAGES[0], headers={**auth, "Accept": "text/html"})
            assert no_json.status_code == 406
