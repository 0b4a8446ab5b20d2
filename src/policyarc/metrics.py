"""Prometheus metrics of one gateway app, and the `/metrics` route that exposes them.

    metrics = Metrics.create()                       # in create_app: a registry of its own, never the global one
    metrics.call_done("get_issue", None)             # ToolPipeline.call, once per call: a cached child, ~1 us
    metrics.upstream_latency.observe(0.042)          # JiraClient, once per upstream send
    metrics.rate_limited("jira-burst-based")         # JiraClient, on each 429
    metrics.refreshes.labels(outcome="ok").inc()     # TokenVault, once per refresh (rare)

Every label comes from a closed set the gateway defines (tool names of the catalogue, error codes, status classes,
Atlassian's documented `RateLimit-Reason` values), so no user, email, token or JQL ever reaches a label, and a caller
cannot grow the number of series by inventing tool names: anything unknown is counted as `unknown`/`other`.

Several workers (`policyarc serve --workers N`) share one port, so a scrape reaches one worker at random: they use
prometheus-client's multiprocess mode instead (`PROMETHEUS_MULTIPROC_DIR`, set by `serve` before the workers start),
and whichever worker answers the scrape sums every worker's files. The audit queue depth is then a gauge each writer
sets once per batch (`livesum`), since a callback cannot cross processes.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["MULTIPROCESS_ENV", "RATE_LIMIT_REASONS", "Metrics", "MetricsEndpoint", "status_class"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Atlassian's documented RateLimit-Reason values (shared/atlassian facts; the simulator sends the same).
RATE_LIMIT_REASONS = frozenset(
    {"jira-burst-based", "jira-per-issue-on-write", "jira-quota-global-based", "jira-quota-tenant-based"}
)
# Upstream latency: one histogram on the call path, buckets from a fast cached read to a slow search.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OK = "ok"
# Error codes of a call refused before running, and the `reason` label each is counted under.
DENIALS = {"denied_by_policy": "policy", "insufficient_scope": "scope"}


def status_class(status: int | None) -> str:
    """`2xx` .. `5xx`, or `none` when no answer came (connection failed)."""
    return f"{status // 100}xx" if status is not None and 100 <= status < 600 else "none"


class Metrics:
    """The gateway's metric families in one registry. Built once per app; passed to the parts that count."""

    def __init__(self, registry: CollectorRegistry, *, tools: Iterable[str], multiprocess: bool = False) -> None:
        self.registry = registry
        self.multiprocess = multiprocess
        self._tools = frozenset(tools)
        self.calls = Counter(
            "policyarc_tool_calls",
            "MCP tool calls by tool and outcome (ok, or the error code the caller saw).",
            ["tool", "outcome"],
            registry=registry,
        )
        self.denials = Counter(
            "policyarc_denials",
            "Tool calls refused before running: reason policy (Cedar) or scope (not in the token).",
            ["reason"],
            registry=registry,
        )
        self.upstream_latency = Histogram(
            "policyarc_upstream_request_duration_seconds",
            "Time of each request sent to Jira, retries counted one by one.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_responses = Counter(
            "policyarc_upstream_responses",
            "Jira's answers by status class (none: no answer).",
            ["status_class"],
            registry=registry,
        )
        self.rate_limited_total = Counter(
            "policyarc_upstream_rate_limited",
            "Jira 429 answers by RateLimit-Reason.",
            ["reason"],
            registry=registry,
        )
        self.refreshes = Counter(
            "policyarc_token_refreshes",
            "Atlassian token refreshes by outcome (ok, or the error code callers were given).",
            ["outcome"],
            registry=registry,
        )
        self.reconnects = Counter(
            "policyarc_reconnects",
            "Upstream links marked for reconnect (the user must sign in again), by reason.",
            ["reason"],
            registry=registry,
        )
        self.audit_queue_depth = Gauge(
            "policyarc_audit_queue_depth",
            "Audit records waiting to be committed.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Children cached by label values: `labels()` builds and looks up a tuple under a lock each time.
        self._call_children: dict[tuple[str, str], Counter] = {}
        self._status_children = {
            cls: self.upstream_responses.labels(status_class=cls) for cls in ("2xx", "3xx", "4xx", "5xx", "none")
        }
        # Present at zero from the start, so rate() works from the first denial.
        self._denial_children = {reason: self.denials.labels(reason=reason) for reason in DENIALS.values()}

    @classmethod
    def create(cls, tools: Iterable[str]) -> Metrics:
        """A fresh registry; multiprocess mode when `PROMETHEUS_MULTIPROC_DIR` is set (several workers)."""
        return cls(
            CollectorRegistry(auto_describe=True), tools=tools, multiprocess=bool(os.environ.get(MULTIPROCESS_ENV))
        )

    def call_done(self, tool: str, outcome: str | None) -> None:
        """One finished tool call: `outcome` is its error code, None when it succeeded."""
        key = (tool, outcome or OK)
        child = self._call_children.get(key)
        if child is None:
            known = tool in self._tools  # a caller-chosen name must not become a series, nor a cache entry
            child = self.calls.labels(tool=tool if known else "unknown", outcome=key[1])
            if known:
                self._call_children[key] = child
        child.inc()
        if outcome in DENIALS:
            self._denial_children[DENIALS[outcome]].inc()

    def upstream_answered(self, status: int | None, seconds: float) -> None:
        self.upstream_latency.observe(seconds)
        self._status_children[status_class(status)].inc()

    def rate_limited(self, reason: str | None) -> None:
        self.rate_limited_total.labels(reason=reason if reason in RATE_LIMIT_REASONS else "other").inc()

    def watch_audit_queue(self, depth: Callable[[], int]) -> None:
        """Report `depth()` at each scrape. In multiprocess mode the writer sets the gauge itself (see above)."""
        if not self.multiprocess:
            self.audit_queue_depth.set_function(depth)

    def close(self) -> None:
        """At shutdown, in multiprocess mode: this worker's live gauges stop counting (its files stay, summed)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def exposition(self) -> bytes:
        """The text exposition format; in multiprocess mode, every worker's values summed."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class MetricsEndpoint:
    """GET /metrics. Open when no token is configured (labels carry no user data, see above); with
    `POLICYARC_METRICS_TOKEN` set, a scrape must send it as a bearer token (Prometheus `authorization`)."""

    def __init__(self, metrics: Metrics, *, token: str | None = None) -> None:
        self._metrics = metrics
        self._expected = f"Bearer {token}".encode() if token else None

    async def scrape(self, request: Request) -> Response:
        if self._expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, self._expected):
                return Response(
                    "Send the metrics token as 'Authorization: Bearer ...' (POLICYARC_METRICS_TOKEN).\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                    media_type="text/plain",
                )
        return Response(self._metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
