"""Builds the gateway's ASGI app from its parts. Read top to bottom: this is the whole wiring.

Objects are created here (none of them touches the network or the database yet); the lifespan starts
what needs the event loop (the MCP session manager, the audit writer, the policy and connector watchers)
and closes everything on shutdown. The database is migrated and the `default` environment ensured before
the app is built: it is served at `/mcp`, wired directly (the hot path); every other environment at `/mcp/{name}`,
found in the environment directory at run time (mcp_environments.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from policyarc import __version__
from policyarc.api import AdminApi, ApiKeyAuthenticator, ReloadOn, create_api_routes
from policyarc.audit import AuditWriter
from policyarc.connectors.directory import ConnectorDirectory
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.connectors.jira.client import JiraClient
from policyarc.console import Console, ConsoleAuth, create_console_routes
from policyarc.draining import Drain, DrainGate
from policyarc.environments import EnvironmentDirectory, ServedEnvironment
from policyarc.host_guard import AllowedPeers, HostOriginGuard
from policyarc.identity.atlassian import AtlassianIdentity
from policyarc.logs import RequestIdMiddleware
from policyarc.mcp_endpoint import McpEndpoint, ToolPipeline, build_mcp_server
from policyarc.mcp_environments import EnvironmentEndpoints
from policyarc.mcp_fastpath import FastPath
from policyarc.metrics import Metrics, MetricsEndpoint
from policyarc.notify import AdminChangePublisher, ChangeFeed, RevocationPublisher, change_feed
from policyarc.oauth import (
    GatewayAuthProvider,
    MetadataDocumentFetcher,
    OAuthConfig,
    SystemClock,
    TokenResolver,
    resource_metadata_url,
)
from policyarc.oauth.assemble import build_oauth
from policyarc.oauth.cimd import CimdLimits, document_client
from policyarc.oauth.config import utc
from policyarc.oauth.janitor import Janitor
from policyarc.oauth.sessions import CookieJar
from policyarc.policy import PolicyRegistry
from policyarc.policy.store import PolicyGate, PolicyWatcher
from policyarc.quota import PAUSE_KIND, Quota
from policyarc.secrets import KeyRing, load_or_create_keyring
from policyarc.services.environments import ensure_environment
from policyarc.settings import Settings
from policyarc.store import create_engine, session_factory, upgrade
from policyarc.store.engine import tighten_directory
from policyarc.tracing import TracedEndpoint, Tracing, setup_tracing
from policyarc.unavailable import DatabaseOutageMiddleware
from policyarc.upstream import AiohttpTransport, AiohttpUpstream, HttpxUpstream, Upstream, tls_context
from policyarc.vault import TokenVault

GATEWAY_SCOPES = tuple(dict.fromkeys(tool.scope for tool in JIRA_TOOLS))


@dataclass
class Gateway:
    """The parts of a running gateway, for the CLI, the demo and tests to reach."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    http: httpx.AsyncClient
    environment_id: str
    environments: EnvironmentDirectory
    policy: PolicyRegistry
    policy_watcher: PolicyWatcher
    janitor: Janitor
    connectors: ConnectorDirectory
    vault: TokenVault
    audit: AuditWriter
    resolver: TokenResolver
    provider: GatewayAuthProvider
    session_manager: StreamableHTTPSessionManager
    documents: MetadataDocumentFetcher
    feed: ChangeFeed
    metrics: Metrics
    drain: Drain
    tracing: Tracing | None = None


def create_app(
    settings: Settings,
    *,
    upstream: httpx.AsyncBaseTransport | None = None,
    fast_path: bool = True,
    tracing: Tracing | None = None,
    environment_id: str | None = None,
) -> Starlette:
    """The gateway app. `upstream` replaces the network for calls to Atlassian (tests pass the simulator);
    `fast_path=False` sends every MCP request through the SDK's transport (tests compare the two); `tracing`
    replaces the OTLP exporter the environment may configure (tests pass an in-memory one); `environment_id` is
    what `prepare_database` returned when the caller ran it already (`policyarc serve` does, patiently), else it
    runs here."""
    tighten_directory(settings.data_dir)  # it holds the key ring and the SQLite database: the owner's only
    tracing = tracing or setup_tracing()
    metrics = Metrics.create(tool.name for tool in JIRA_TOOLS)
    keyring = load_or_create_keyring(settings)
    if environment_id is None:
        environment_id = prepare_database(settings)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # One aiohttp pool for every upstream call: the Jira client sends on it directly (the hot path), the rest
    # through httpx's interface. A test's `upstream` transport replaces both.
    tls = tls_context()
    network = AiohttpUpstream(timeout=settings.upstream_timeout, connect_timeout=5.0, ssl_context=tls)
    http = httpx.AsyncClient(
        transport=upstream or AiohttpTransport(network),
        timeout=httpx.Timeout(settings.upstream_timeout, connect=5.0),
        follow_redirects=False,
    )
    jira_upstream: Upstream = network if upstream is None else HttpxUpstream(http)
    identity = AtlassianIdentity(http, auth_url=settings.atlassian_auth_url, api_url=settings.atlassian_api_url)
    clock = SystemClock()

    policy = PolicyRegistry(GATEWAY_SCOPES)
    policy_watcher = PolicyWatcher(sessions, policy)
    gate = PolicyGate(policy)
    jira = JiraClient(jira_upstream, api_url=settings.atlassian_api_url, metrics=metrics, tracing=tracing)
    connectors = ConnectorDirectory(sessions, site_url_template=settings.atlassian_site_url, jira=jira)
    # Changes between instances (notify.py); while it is live the caches below trust their entries for longer.
    feed = change_feed(settings.database_url, engine)
    vault = TokenVault(sessions=sessions, keyring=keyring, identity=identity, metrics=metrics, changes=feed)
    audit = AuditWriter(
        engine,
        intent_grace=settings.audit_intent_grace,
        report_depth=metrics.audit_queue_depth.set if metrics.multiprocess else None,
    )
    metrics.watch_audit_queue(audit.depth)
    environments = EnvironmentDirectory(sessions, public_url=settings.public_url)

    config = OAuthConfig.from_settings(settings, environment_id=environment_id, scopes=GATEWAY_SCOPES)
    # Client ID Metadata Documents come from URLs strangers choose: their own small pool, never the Jira one.
    limits = CimdLimits()
    documents = MetadataDocumentFetcher(
        document_client(limits.max_concurrent, transport=upstream, ssl_context=tls),
        allow_loopback_http=config.loopback_issuer,
        limits=limits,
    )
    oauth = build_oauth(
        sessions=sessions,
        config=config,
        keyring=keyring,
        identity=identity,
        policy=gate,
        clock=clock,
        links=vault,
        documents=documents,
        environments=environments,
        pushes=feed,
    )

    _subscribe(feed, oauth.resolver, vault, policy_watcher, connectors)
    quota = Quota.from_settings(settings, feed=feed)  # Atlassian's 429 pauses reach every instance (quota.py)
    feed.subscribe(PAUSE_KIND, quota.on_feed)
    pipeline = ToolPipeline(
        tools=JIRA_TOOLS,
        policy=gate,
        connectors=connectors,
        vault=vault,
        audit=audit,
        metrics=metrics,
        quota=quota,
    )
    security = transport_security(settings.public_url)
    session_manager = StreamableHTTPSessionManager(
        app=build_mcp_server(pipeline, version=__version__),
        stateless=True,
        json_response=True,
        security_settings=security,
    )
    fast = FastPath(pipeline, security) if fast_path else None
    endpoint = McpEndpoint(
        session_manager=session_manager,
        resolver=oauth.resolver,
        pipeline=pipeline,
        resource_metadata_url=resource_metadata_url(config),
        default_scopes=config.default_scopes,
        fast_path=fast,
    )

    def environment_endpoint(environment: ServedEnvironment) -> McpEndpoint:
        return McpEndpoint(
            session_manager=session_manager,
            resolver=oauth.resolver.for_environment(environment.resource, environment.id),
            pipeline=pipeline,
            resource_metadata_url=environment.metadata_url,
            default_scopes=config.default_scopes,
            fast_path=fast,
        )

    gateway = Gateway(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keyring=keyring,
        http=http,
        environment_id=environment_id,
        environments=environments,
        policy=policy,
        policy_watcher=policy_watcher,
        janitor=Janitor.from_settings(sessions, settings),
        connectors=connectors,
        vault=vault,
        audit=audit,
        resolver=oauth.resolver,
        provider=oauth.provider,
        session_manager=session_manager,
        documents=documents,
        feed=feed,
        metrics=metrics,
        drain=Drain(timeout=settings.drain_timeout),
        tracing=tracing,
    )
    oauth.provider.add_revocation_listener(RevocationPublisher(gateway.feed))

    admin_api = AdminApi(
        sessions=sessions,
        keyring=keyring,
        http=http,
        public_url=settings.public_url,
        site_url_template=settings.atlassian_site_url,
        scopes=GATEWAY_SCOPES,
        # A change made here applies at once on this instance, and is announced to the others (notify.py).
        listeners=[
            policy_watcher,
            ReloadOn(frozenset({"connector"}), connectors.reload),
            AdminChangePublisher(gateway.feed),
            ReloadOn(frozenset({"environment"}), environments.reload),
        ],
    )
    console_auth = ConsoleAuth(sessions, CookieJar(secure=config.secure_cookies), now=lambda: utc(clock))
    console = Console(admin_api, auth=console_auth, now=lambda: utc(clock), idp_test=oauth.idp_test)
    peers = AllowedPeers.for_public_url(settings.public_url)

    def edge(app: ASGIApp) -> ASGIApp:
        """In front of every MCP endpoint: exact Host and Origin (host_guard.py), then on SIGTERM refuse new calls
        and count those in flight (draining.py), and a span per request when tracing is on."""
        inner: ASGIApp = DrainGate(app, gateway.drain)
        if tracing is not None:
            inner = TracedEndpoint(inner, tracing)
        return HostOriginGuard(inner, peers)

    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    routes: list[BaseRoute] = [
        Route("/mcp", endpoint=edge(endpoint), methods=["GET", "POST", "DELETE"]),
        Route(
            "/mcp/{name}",
            endpoint=edge(EnvironmentEndpoints(environments, environment_endpoint)),
            methods=["GET", "POST", "DELETE"],
        ),
        *oauth.routes,
        *create_api_routes(admin_api, authenticators=[ApiKeyAuthenticator(sessions)]),
        *create_console_routes(console),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/readyz", endpoint=readyz, methods=["GET"]),
        Route("/metrics", endpoint=MetricsEndpoint(metrics, token=metrics_token).scrape, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware), Middleware(DatabaseOutageMiddleware)],
        lifespan=_lifespan,
    )
    app.state.gateway = gateway
    app.state.quota = quota
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    gateway: Gateway = app.state.gateway
    async with gateway.session_manager.run():  # a mounted sub-app's lifespan would not run: run it here
        await gateway.policy_watcher.start()
        await gateway.environments.start()
        await gateway.connectors.start()
        await gateway.audit.start()
        await gateway.janitor.start()
        await gateway.feed.start()
        # What startup built (modules, the app, the SDK's and pydantic's schemas) lives as long as the process:
        # moved out of the collector's reach, a full collection under load scans only what requests allocate
        # (measured: ~97 ms pauses down to ~16 ms on average, docs/performance.md). Unfrozen at shutdown, so an app
        # stopped inside a longer-lived process (the tests) leaves nothing uncollectable behind. No collection
        # first: over the whole start-up heap it took 0.14 s of every start to find ~2,500 unreachable objects,
        # which now stay frozen. `policyarc serve` turns the collector off while it imports and builds the app
        # (cli.py); it is back on from here.
        gc.freeze()
        gc.enable()
        try:
            yield
        finally:
            gc.unfreeze()
            await gateway.feed.aclose()
            await gateway.janitor.aclose()
            await gateway.audit.aclose()  # drains: every record of a returned call is committed
            await gateway.connectors.aclose()
            await gateway.environments.aclose()
            await gateway.policy_watcher.aclose()
            await gateway.vault.aclose()  # refreshes in flight store their rotated tokens
            await gateway.http.aclose()
            await gateway.documents.aclose()
            await app.state.quota.aclose()
            await gateway.engine.dispose()
            gateway.metrics.close()
            if gateway.tracing is not None:
                gateway.tracing.shutdown()


def _subscribe(
    feed: ChangeFeed,
    resolver: TokenResolver,
    vault: TokenVault,
    policy_watcher: PolicyWatcher,
    connectors: ConnectorDirectory,
) -> None:
    """What other instances announce (notify.py) applies here at once; polling stays as the safety net."""
    feed.subscribe("token_revoked", lambda token_hash: resolver.forget([token_hash]))
    feed.subscribe("access", resolver.forget_all)  # people or clients revoked: which tokens is not worth sending
    feed.subscribe("access", vault.forget_all)
    feed.subscribe("link", vault.forget)
    for kind in ("policy", "environment"):
        feed.subscribe(kind, lambda _environment_id: policy_watcher.reload())
    feed.subscribe("connector", lambda _environment_id: connectors.reload())
    # (Re)connected, or alone again on a SQLite file: whatever was announced meanwhile was missed.
    feed.on_resync(resolver.forget_all)
    feed.on_resync(vault.forget_all)
    feed.on_resync(policy_watcher.reload)
    feed.on_resync(connectors.reload)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    """Ready when the store answers and the environment's policy is loaded, and not shutting down."""
    gateway: Gateway = request.app.state.gateway
    if gateway.drain.draining:  # SIGTERM: out of the load balancer at once (policyarc.draining)
        return JSONResponse({"status": "draining"}, status_code=503)
    problems = []
    try:
        async with gateway.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        problems.append(f"database: {type(exc).__name__}")
    if gateway.policy.version(gateway.environment_id) is None:
        problems.append("policy: not loaded")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def transport_security(public_url: str) -> TransportSecuritySettings:
    """The SDK transport's own Host/Origin check, off: it matches `host:*` by prefix, so `HostOriginGuard` in
    front of /mcp checks both exactly instead (host_guard.py); the SDK still checks Content-Type."""
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def create_app_from_env() -> Starlette:
    """App factory for `uvicorn --factory` (several workers): settings from POLICYARC_* variables."""
    from policyarc.logs import configure_logging
    from policyarc.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)  # a spawned worker inherits no logging setup
    return create_app(settings)


def prepare_database(settings: Settings) -> str:
    """Migrate to head and ensure the `default` environment; returns its id.

    Runs on a private event loop in a worker thread, so it works whether or not the caller is inside one,
    and leaves no connection behind for the serving loop to inherit.
    """
    result: dict[str, Any] = {}

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            async with session_factory(engine).begin() as session:
                environment = await ensure_environment(session)
                result["id"] = environment.id
        finally:
            await engine.dispose()

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="policyarc-prepare-db")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return str(result["id"])
