"""Optional OpenTelemetry traces: a span per MCP request and one per request sent to Jira.

Off unless an OTLP endpoint is configured (`POLICYARC_OTEL_ENDPOINT`, or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT`) and the `[otel]` extra is installed; when off nothing is imported and the gateway
holds `None` where a tracer would be, so the hot path pays one `is None` test per call.

Spans carry no secrets and no user content: the MCP span names the tool from the `Mcp-Name` header only when the
client sends one, and the upstream span records the method, the host and the URL path (issue keys, the cloud id),
never the query string (JQL) or a header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

__all__ = ["TracedEndpoint", "Tracing", "otlp_endpoint", "setup_tracing"]

logger = logging.getLogger(__name__)

SERVICE_NAME = "policyarc"


def otlp_endpoint(environ: dict[str, str] | None = None) -> str | None:
    """The OTLP/HTTP endpoint asked for, if any: ours first, then the standard variable."""
    env = os.environ if environ is None else environ
    return env.get("POLICYARC_OTEL_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


class Tracing:
    """The tracer the gateway's parts share, and the provider to flush at shutdown."""

    def __init__(self, tracer: Tracer, provider: Any) -> None:
        self.tracer = tracer
        self._provider = provider

    @classmethod
    def with_exporter(cls, exporter: SpanExporter, *, batch: bool = True) -> Tracing:
        """A provider of our own (not the global one: several apps in one process keep apart) sending to
        `exporter`; tests pass the SDK's in-memory exporter with `batch=False`."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        return cls(provider.get_tracer("policyarc"), provider)

    @contextmanager
    def upstream_span(self, method: str, url: str) -> Iterator[Span]:
        from opentelemetry.trace import SpanKind

        parts = urlsplit(url)
        attributes = {"http.request.method": method, "server.address": parts.hostname or "", "url.path": parts.path}
        with self.tracer.start_as_current_span(f"jira {method}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        """Flush what is batched (the lifespan's last step)."""
        self._provider.shutdown()


def setup_tracing(environ: dict[str, str] | None = None) -> Tracing | None:
    """Tracing to the configured OTLP endpoint, or None (not configured, or the extra not installed: said once)."""
    endpoint = otlp_endpoint(environ)
    if endpoint is None:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        logger.warning("an OTLP endpoint is set but OpenTelemetry is not installed: pip install 'policyarc[otel]'")
        return None
    traces = endpoint.rstrip("/")
    if not traces.endswith("/v1/traces"):
        traces += "/v1/traces"  # OTLP/HTTP: the base endpoint names the collector, the signal has its own path
    return Tracing.with_exporter(OTLPSpanExporter(endpoint=traces))


class TracedEndpoint:
    """Pure ASGI wrapper of /mcp: one server span per request, with the response status."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self._app = app
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry.trace import SpanKind, StatusCode

        name = None
        for header, value in scope["headers"]:
            if header == b"mcp-name":
                name = value.decode("latin-1")[:64]
        attributes = {"http.request.method": scope["method"], "url.path": scope["path"]}
        if name:
            attributes["mcp.tool"] = name
        with self._tracing.tracer.start_as_current_span("mcp", kind=SpanKind.SERVER, attributes=attributes) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            await self._app(scope, receive, traced_send)
