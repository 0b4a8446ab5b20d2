"""Optional OpenTelemetry traces: a server span per MCP request, a client span per Jira send under it, and nothing
at all when no endpoint is configured."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from policyarc.draining import DrainGate
from policyarc.tracing import TracedEndpoint, Tracing, otlp_endpoint, setup_tracing
from tests.e2e.harness import running_product

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


async def test_an_mcp_call_is_a_server_span_with_the_jira_request_as_its_child(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with running_product(tmp_path, tracing=Tracing.with_exporter(exporter, batch=False)) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        token = product.token_of("alice@example.com")
        exporter.clear()  # the sign-in's own requests are not what this test is about
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        message["params"] = {"name": "search_issues", "arguments": {"jql": "project = ENG", "max_results": 1}}
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "Mcp-Name": "search_issues"}
        async with product.raw() as http:
            response = await http.post("/mcp", json=message, headers=headers)
        assert response.json()["result"]["isError"] is False

    spans = exporter.get_finished_spans()
    (server,) = [span for span in spans if span.kind == SpanKind.SERVER]
    clients = [span for span in spans if span.kind == SpanKind.CLIENT]
    assert server.name == "mcp"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    assert server.attributes["mcp.tool"] == "search_issues"
    assert [span.name for span in clients] == ["jira POST"]  # search/jql
    (jira,) = clients
    assert jira.parent is not None and jira.parent.span_id == server.context.span_id
    assert jira.context.trace_id == server.context.trace_id
    assert jira.attributes is not None and jira.attributes["http.response.status_code"] == 200
    assert str(jira.attributes["url.path"]).endswith("/rest/api/3/search/jql")
    recorded = " ".join(str(value) for span in spans for value in (span.attributes or {}).values())
    assert token not in recorded and "Bearer" not in recorded and "project = ENG" not in recorded


async def test_no_tracing_unless_an_endpoint_is_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICYARC_OTEL_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert setup_tracing() is None
    async with running_product(tmp_path) as product:
        assert product.gateway.tracing is None
        (mcp,) = [route for route in product.gateway_app.routes if getattr(route, "path", None) == "/mcp"]
        guarded = mcp.app.app  # inside the Host/Origin guard
        assert isinstance(guarded, DrainGate) and not isinstance(guarded, TracedEndpoint)


def test_the_endpoint_comes_from_our_variable_then_the_standard_one() -> None:
    assert otlp_endpoint({}) is None
    assert otlp_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == "http://c:4318"
    both = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "POLICYARC_OTEL_ENDPOINT": "http://ours:4318"}
    assert otlp_endpoint(both) == "http://ours:4318"


def test_an_endpoint_without_the_extra_installed_says_what_to_install(caplog: pytest.LogCaptureFixture) -> None:
    # The dev install has the SDK (for the test above) but not the OTLP exporter, which only `[otel]` brings.
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    except ImportError:
        with caplog.at_level(logging.WARNING, logger="policyarc.tracing"):
            assert setup_tracing({"POLICYARC_OTEL_ENDPOINT": "http://127.0.0.1:4318"}) is None
        assert "pip install 'policyarc[otel]'" in caplog.text
    else:
        tracing = setup_tracing({"POLICYARC_OTEL_ENDPOINT": "http://127.0.0.1:4318"})
        assert tracing is not None
        tracing.shutdown()
