"""/metrics: what the gateway counts, through the whole product in one process (tests/e2e/harness.py), and the
Grafana dashboard in deploy/ asking only for what is exported."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.app import create_app
from policyarc.audit import AuditWriter
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.mcp_endpoint import AuditEntry
from policyarc.metrics import Metrics
from policyarc.policy import Rule, rules_to_cedar
from policyarc.services.environments import ensure_environment
from policyarc.services.policies import gateway_scopes, set_policy
from policyarc.settings import load_settings
from policyarc.sim.atlassian import SimConfig
from tests.e2e.harness import GATEWAY, Product, running_product
from tests.e2e.test_mcp_flow import ALL, grant_everything

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana-dashboard.json"
TOOLS = [tool.name for tool in JIRA_TOOLS]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(product: Product, headers: dict[str, str] | None = None) -> tuple[str, Samples]:
    async with product.raw() as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def call(product: Product, token: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    async with product.raw() as http:
        return await http.post("/mcp", json=message, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})


async def signed_in(product: Product, email: str = "alice@example.com", scope: str | None = None) -> str:
    async with product.client(email, scope=scope) as client:
        await client.list_tools()
    return product.token_of(email)


async def test_calls_are_counted_by_tool_and_outcome_with_no_user_data_in_any_label(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        token = await signed_in(product)
        for _ in range(2):
            assert (await call(product, token, "get_issue", {"key": "ENG-1"})).json()["result"]["isError"] is False
        missing = (await call(product, token, "get_issue", {"key": "ENG-99999"})).json()["result"]
        assert missing["isError"] is True
        # A caller-chosen tool name is counted as `unknown`: it must neither reach a label nor grow the series.
        for n in range(3):
            await call(product, token, f"alice@example.com-{n}", {})
        text, samples = await scrape(product)

    assert value(samples, "policyarc_tool_calls_total", tool="get_issue", outcome="ok") == 2
    assert value(samples, "policyarc_tool_calls_total", tool="get_issue", outcome="not_found") == 1
    assert value(samples, "policyarc_tool_calls_total", tool="unknown", outcome="unknown_tool") == 3
    assert "alice" not in text and "example.com" not in text and "pa_at_" not in text and token not in text
    # Each upstream send observed once: 3 answers from Jira (2 found, 1 not found), 2xx and 4xx.
    assert value(samples, "policyarc_upstream_request_duration_seconds_count") == 3
    assert value(samples, "policyarc_upstream_responses_total", status_class="2xx") == 2
    assert value(samples, "policyarc_upstream_responses_total", status_class="4xx") == 1
    assert value(samples, "policyarc_audit_queue_depth") == 0
    assert ("policyarc_audit_queue_depth", ()) in samples


async def test_denials_by_policy_and_by_scope(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        reader = await signed_in(product, "bob@example.com")  # the default policy: jira:issues:read only
        await grant_everything(product)
        writer = await signed_in(product, scope=ALL)
        refused = await call(product, reader, "create_issue", {"project": "ENG", "summary": "no scope"})
        assert refused.status_code == 403  # the HTTP scope challenge
        # Policy back to the default (read only): the write token is still live, the policy now refuses it.
        async with product.gateway.sessions() as session:
            environment = await ensure_environment(session)
            default = rules_to_cedar([Rule(effect="permit", scopes=("jira:issues:read",))])
            await set_policy(session, environment, default, scopes=gateway_scopes(), actor="test")
        await product.gateway.policy_watcher.reload()
        denied = (await call(product, writer, "create_issue", {"project": "ENG", "summary": "no policy"})).json()
        assert denied["result"]["isError"] is True
        _, samples = await scrape(product)

    assert value(samples, "policyarc_denials_total", reason="policy") == 1
    assert value(samples, "policyarc_denials_total", reason="scope") == 1
    assert value(samples, "policyarc_tool_calls_total", tool="create_issue", outcome="denied_by_policy") == 1
    assert value(samples, "policyarc_tool_calls_total", tool="create_issue", outcome="insufficient_scope") == 1


async def test_429s_are_counted_by_rate_limit_reason(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        token = await signed_in(product)
        fault = {"path": "*/rest/api/3/issue/*", "kind": "rate_limit", "retry_after": 1, "count": 1}
        await product.sim_hook("POST", "/_sim/faults", {**fault, "reason": "jira-burst-based"})
        result = (await call(product, token, "get_issue", {"key": "ENG-1"})).json()["result"]
        assert result["isError"] is False  # retried after Retry-After, then answered
        await product.sim_hook("POST", "/_sim/faults", {**fault, "reason": "jira-quota-tenant-based"})
        await call(product, token, "get_issue", {"key": "ENG-1"})
        _, samples = await scrape(product)

    assert value(samples, "policyarc_upstream_rate_limited_total", reason="jira-burst-based") == 1
    assert value(samples, "policyarc_upstream_rate_limited_total", reason="jira-quota-tenant-based") == 1
    assert value(samples, "policyarc_upstream_responses_total", status_class="4xx") == 2


async def test_refreshes_and_reconnects_are_counted_by_outcome(tmp_path: Path) -> None:
    # Tokens that live 100 s are inside the vault's refresh margin at once: every call refreshes.
    config = SimConfig(rate_limits_enabled=False, token_ttl=100)
    async with running_product(tmp_path, sim_config=config) as product:
        token = await signed_in(product)
        assert (await call(product, token, "get_issue", {"key": "ENG-1"})).json()["result"]["isError"] is False
        _, before = await scrape(product)
        await product.sim_hook("POST", "/_sim/tokens/revoke", {"email": "alice@example.com"})
        revoked = (await call(product, token, "get_issue", {"key": "ENG-1"})).json()["result"]
        assert revoked["isError"] is True
        _, after = await scrape(product)

    assert value(before, "policyarc_token_refreshes_total", outcome="ok") >= 1
    assert value(after, "policyarc_token_refreshes_total", outcome="reconnect_required") == 1
    assert value(after, "policyarc_reconnects_total", reason="refresh_refused") == 1


async def test_metrics_token_when_configured(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        settings = product.gateway.settings.model_copy(update={"metrics_token": SecretStr("scrape-secret")})
        app = create_app(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=GATEWAY) as http:
            anonymous = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert anonymous.status_code == wrong.status_code == 401
    assert "POLICYARC_METRICS_TOKEN" in anonymous.text
    assert right.status_code == 200 and "policyarc_tool_calls_total" in right.text


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics.create(TOOLS), Metrics.create(TOOLS)  # the global registry would refuse the second
    first.call_done("get_issue", None)
    ok = {"tool": "get_issue", "outcome": "ok"}
    assert first.registry.get_sample_value("policyarc_tool_calls_total", ok) == 1
    assert second.registry.get_sample_value("policyarc_tool_calls_total", ok) is None


def test_a_rate_limit_reason_atlassian_does_not_document_is_counted_as_other() -> None:
    metrics = Metrics.create(TOOLS)
    metrics.rate_limited("alice@example.com")  # whatever a header says never becomes a label
    metrics.rate_limited(None)
    assert metrics.registry.get_sample_value("policyarc_upstream_rate_limited_total", {"reason": "other"}) == 2


def test_settings_read_the_metrics_token_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYARC_METRICS_TOKEN", "s3cret")
    settings = load_settings()
    assert settings.metrics_token is not None and "s3cret" not in repr(settings)


# --- deploy/grafana-dashboard.json ------------------------------------------------------------------------------


def exported_names() -> set[str]:
    """Every sample name the gateway can expose (counters with _total, histograms with _bucket/_sum/_count)."""
    metrics = Metrics.create(TOOLS)
    return {sample.name for family in metrics.registry.collect() for sample in family.samples} | {
        f"{family.name}{suffix}"
        for family in metrics.registry.collect()
        for suffix in {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
    }


def test_the_dashboard_is_valid_json_asking_only_for_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    exprs = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert exprs, "no panel queries"
    named = {name for expr in exprs for name in re.findall(r"\bpolicyarc_[a-z0-9_]+", expr)}
    assert named, "no panel names a gateway metric"
    assert named <= exported_names(), named - exported_names()
    titles = " ".join(panel["title"].lower() for panel in panels)
    for subject in ("calls", "error ratio", "latency", "refresh", "429", "denials", "audit queue"):
        assert subject in titles, subject
    assert any("histogram_quantile(0.99" in expr for expr in exprs)


async def test_the_audit_writer_reports_its_queue_depth_once_per_batch(engine: AsyncEngine) -> None:
    # Multiprocess mode (`serve --workers N`): no scrape callback reaches a worker, so the writer sets the gauge.
    reported: list[int] = []
    writer = AuditWriter(engine, report_depth=reported.append)
    await writer.start()
    try:
        entries = [
            AuditEntry(time.time(), "env", "u", "c", "get_issue", "d", "allowed", 200, 1.0, None) for _ in range(5)
        ]
        await asyncio.gather(*(writer.record(entry) for entry in entries))
    finally:
        await writer.aclose()
    assert len(reported) == writer.batches + 1  # each batch, and the stop
    assert reported[-1] == 0 and all(depth >= 0 for depth in reported)
