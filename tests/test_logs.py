"""Structured logs: one JSON object per line with the request id, and no token in any line, whatever logs it."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from policyarc.logs import JsonFormatter, RedactingFormatter, RequestIdMiddleware, configure_logging, redact, request_id
from tests.e2e.harness import APP_SECRET, running_product
from tests.e2e.test_mcp_flow import ALL, grant_everything

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged, at DEBUG, through the JSON formatter (as `POLICYARC_LOG_FORMAT=json` sets it up)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("token pa_at_Zx9-abc_DEF issued", "pa_at_Zx9-abc_DEF"),
        ("rotated pa_rt_q1w2e3r4t5", "pa_rt_q1w2e3r4t5"),
        ("key pa_admin_k3y", "pa_admin_k3y"),
        ("Authorization: Bearer eyJhbGciOi.JIUzI1.NiJ9", "eyJhbGciOi.JIUzI1.NiJ9"),
        ("authorization: bearer abc/def+ghi=", "abc/def+ghi="),
        ("grant_type=refresh_token&client_secret=s3cr3t-V4lue&x=1", "s3cr3t-V4lue"),
        ('{"refresh_token": "r-tok-123", "ok": 1}', "r-tok-123"),
        ("access_token=at-456 sent", "at-456"),
    ],
)
def test_redact_removes_every_token_shape(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_redact_keeps_ordinary_text() -> None:
    text = "user 123 called get_issue on ENG-1 (bearer of bad news: none)"
    assert redact("user 123 called get_issue on ENG-1") == "user 123 called get_issue on ENG-1"
    assert "get_issue" in redact(text)


def test_json_line_carries_extra_fields_and_redacts_message_extra_and_traceback() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("client_secret=hunter2 rejected")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("policyarc.x", logging.ERROR, __file__, 1, "for %s", ("pa_at_leaked",), exc_info)
    record.environment_id = "env-1"
    record.header = "Bearer abc.def"
    token = request_id.set("req-7")
    try:
        line = formatter.format(record)
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-7" and entry["level"] == "error" and entry["logger"] == "policyarc.x"
    assert entry["environment_id"] == "env-1"
    assert entry["message"] == "for pa_at_[redacted]"
    assert "hunter2" not in line and "abc.def" not in line and "pa_at_leaked" not in line
    assert "ValueError" in entry["exception"]


def test_text_format_is_redacted_too() -> None:
    record = logging.LogRecord("policyarc.x", logging.INFO, __file__, 1, "sent %s", ("Bearer abc.def",), None)
    assert "abc.def" not in RedactingFormatter().format(record)


def test_configure_logging_json_replaces_the_root_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logging("debug", "json")
        logging.getLogger("uvicorn.error").warning("started with %s", "pa_rt_secret")
        logging.getLogger("policyarc.test").debug("hello")
        lines = capsys.readouterr().err.strip().splitlines()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    entries = [json.loads(line) for line in lines]
    assert [entry["logger"] for entry in entries] == ["uvicorn.error", "policyarc.test"]
    assert entries[0]["message"] == "started with pa_rt_[redacted]"


async def echo_id(request: Request) -> PlainTextResponse:
    logging.getLogger("policyarc.test").info("inside")
    return PlainTextResponse(request_id.get() or "")


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123.DEF_4:5", True), ("bad id\r\nX-Evil: 1", False), ("x" * 129, False), ("", False)],
)
async def test_request_id_taken_when_safe_else_generated_and_echoed(
    given: str, kept: bool, json_lines: io.StringIO
) -> None:
    app = RequestIdMiddleware(Starlette(routes=[Route("/", echo_id)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        response = await http.get("/", headers={"X-Request-Id": given} if given else {})
        other = await http.get("/")
    rid = response.headers["x-request-id"]
    assert response.text == rid  # the id in the context is the one echoed
    assert (rid == given) is kept
    if not kept:
        assert len(rid) == 32 and rid.isalnum()
    assert other.headers["x-request-id"] != rid
    (inside,) = [json.loads(line) for line in json_lines.getvalue().splitlines() if '"inside"' in line][:1]
    assert inside["request_id"] == rid
    assert request_id.get() is None  # reset after the request


async def test_sign_in_and_tool_calls_at_debug_log_no_token_and_only_json_lines_with_request_ids(
    tmp_path: Path, json_lines: io.StringIO
) -> None:
    async with running_product(tmp_path) as product:
        await grant_everything(product)
        async with product.client("alice@example.com", scope=ALL) as client:
            assert not (await client.call_tool("get_issue", {"key": "ENG-1"})).is_error
            assert not (await client.call_tool("create_issue", {"project": "ENG", "summary": "logged"})).is_error
            await client.call_tool("get_issue", {"key": "NOPE-1"})
        tokens = product.storages["alice@example.com"].tokens
        assert tokens is not None and tokens.refresh_token is not None
        # Atlassian revokes her grant: the next call logs the reconnect, inside the request it belongs to.
        atlassian = [*product.sim.tokens._access, *product.sim.tokens._refresh]
        await product.sim_hook("POST", "/_sim/tokens/revoke", {"email": "alice@example.com"})
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_issue"}}
        message["params"]["arguments"] = {"key": "ENG-1"}
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {tokens.access_token}", "X-Request-Id": "trace-42"}
        async with product.raw() as http:
            response = await http.post("/mcp", json=message, headers=headers)
        assert response.headers["x-request-id"] == "trace-42"
        assert response.json()["result"]["isError"] is True

    text = json_lines.getvalue()
    lines = text.splitlines()
    assert len(lines) > 20, "DEBUG logging produced almost nothing: the test would prove little"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all("request_id" in entry for entry in entries)
    secrets = [tokens.access_token, tokens.refresh_token, APP_SECRET, *atlassian]
    assert atlassian, "the simulator minted no Atlassian token"
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == []
    assert "pa_at_" not in text.replace("pa_at_[redacted]", "")
    assert "pa_rt_" not in text.replace("pa_rt_[redacted]", "")
    reconnect = [e for e in entries if e["logger"] == "policyarc.vault" and "reconnect" in e["message"]]
    assert reconnect and all(e["request_id"] == "trace-42" for e in reconnect)
    assert sum(1 for e in entries if e["request_id"]) > 10
