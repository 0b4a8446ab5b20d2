"""The `policyarc` command line.

Each command only parses its options and hands over to the part it runs; heavy imports happen inside the
command, so `policyarc --help` and unrelated commands stay fast.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from policyarc.sim.atlassian.model import World

app = typer.Typer(
    name="policyarc",
    help="PolicyArc: an MCP gateway that runs each tool call as the signed-in user, under the company's policy.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """PolicyArc command line."""


def _add_admin_commands() -> None:
    from policyarc.cli_admin import app as admin_app

    app.add_typer(admin_app)  # db, idp, connector, policy, audit, keys, admin: at the top level


_add_admin_commands()


@app.command()
def sim(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 9400,
    host: Annotated[str, typer.Option(help="Interface to bind; keep loopback unless you mean it.")] = "127.0.0.1",
    seed: Annotated[
        Path | None,
        typer.Option(
            help="JSON file adding OAuth apps, users and site permissions (see policyarc.sim.atlassian.seed)."
        ),
    ] = None,
    auto_consent: Annotated[bool, typer.Option(help="/auth/authorize redirects at once, no sign-in page.")] = False,
    token_ttl: Annotated[int, typer.Option(min=1, help="Access-token lifetime in seconds.")] = 3600,
    rate_limits: Annotated[bool, typer.Option(help="Enforce Jira's burst and per-issue rate limits.")] = True,
) -> None:
    """Run the Atlassian Cloud simulator (OAuth 3LO, Jira REST v3, tenant_info) for demos and tests."""
    from policyarc.sim.atlassian import SimConfig, create_sim_app
    from policyarc.sim.atlassian.hooks import ConnectionDropped
    from policyarc.sim.atlassian.seed import SeedError, load_seed_file

    try:
        extra = load_seed_file(seed) if seed else None
    except SeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    config = SimConfig(token_ttl=token_ttl, auto_consent=auto_consent, rate_limits_enabled=rate_limits)
    sim_app = create_sim_app(config, seed=extra)
    base_url = f"http://{_url_host(host)}:{port}"
    typer.echo(sim_banner(sim_app.state.sim.world, base_url, rate_limits=rate_limits))
    # A `drop` fault ends a request by raising on purpose; it is not worth a traceback in the server log.
    logging.getLogger("uvicorn.error").addFilter(_ExceptionFilter(ConnectionDropped))
    serve(sim_app, host, port)


@app.command("serve")
def serve_gateway(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default POLICYARC_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default POLICYARC_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes sharing the port.")] = 1,
    db_attempts: Annotated[
        int, typer.Option(min=1, help="Tries to reach the database at start before giving up.")
    ] = 20,
    db_retry_delay: Annotated[float, typer.Option(min=0, help="Seconds between those tries.")] = 3.0,
) -> None:
    """Run the gateway: migrate the store, then serve MCP, OAuth and the admin API."""
    # Importing and building the app allocates ~1 million long-lived objects and no garbage worth collecting:
    # the collector's passes over them were ~0.1 s of every start. The app's lifespan freezes them and turns it
    # back on (app.py).
    gc.disable()
    from policyarc.settings import SettingsError, load_settings
    from policyarc.startup import StartupError, prepare_database_patiently

    overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        environment_id = prepare_database_patiently(
            settings, attempts=db_attempts, delay=db_retry_delay, report=lambda line: typer.echo(line, err=True)
        )
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    import uvicorn

    from policyarc.console.bootstrap import first_start_link

    link = first_start_link(settings)
    if link:
        typer.echo(f"No admin yet. Open this link to create the first one (works once, for 24 hours):\n  {link}")
    typer.echo(f"Console: {settings.public_url}/console")
    from policyarc.logs import configure_logging, uvicorn_log_config

    configure_logging(settings.log_level, settings.log_format)
    if workers > 1:
        # Workers import the app factory themselves; settings come from the same environment. They share the port,
        # so a scrape reaches any one of them: prometheus-client's multiprocess mode sums them (policyarc.metrics).
        _multiprocess_metrics_dir()
        uvicorn.run(
            "policyarc.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            access_log=False,
            log_level=settings.log_level,
            log_config=uvicorn_log_config(),
            timeout_graceful_shutdown=int(settings.drain_timeout),
        )
        return
    from policyarc.app import create_app
    from policyarc.draining import GracefulServer

    app = create_app(settings, environment_id=environment_id)
    typer.echo(f"PolicyArc gateway on {settings.public_url} (MCP at {settings.public_url}/mcp)")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(),
    )
    # SIGTERM: refuse new calls, finish those in flight, drain the audit log, exit 0 (policyarc.draining).
    GracefulServer(config, app.state.gateway.drain).run()


def _multiprocess_metrics_dir() -> None:
    """A fresh directory for the workers' metric files, unless one is given (it must be emptied between runs)."""
    import os
    import tempfile

    from policyarc.metrics import MULTIPROCESS_ENV

    if not os.environ.get(MULTIPROCESS_ENV):
        import atexit
        import shutil

        directory = tempfile.mkdtemp(prefix="policyarc-metrics-")
        os.environ[MULTIPROCESS_ENV] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite database and key ring.")] = Path(
        ".policyarc-demo"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Gateway port.")] = 8000,
    sim_port: Annotated[int, typer.Option(min=1, max=65535, help="Atlassian simulator port.")] = 9400,
    fresh: Annotated[
        bool, typer.Option(help="Start from an empty data directory with no connector: add it in the console.")
    ] = False,
) -> None:
    """Run the simulator and the gateway together, pre-wired, with a seeded environment and users."""
    import asyncio

    from policyarc.demo import DemoPlan, clear_demo_data, run_demo

    data_dir = data_dir.absolute()
    if fresh:
        clear_demo_data(data_dir)
    plan = DemoPlan(data_dir=data_dir, gateway_port=port, sim_port=sim_port, fresh=fresh)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(plan))


def sim_banner(world: World, base_url: str, *, rate_limits: bool = True) -> str:
    """What `policyarc sim` prints at start: where it listens and the credentials to use."""
    lines = [
        f"Atlassian simulator on {base_url} (rate limits {'on' if rate_limits else 'off'})",
        f"  acme cloud id: {world.sites['acme'].cloud_id}" if "acme" in world.sites else "",
        "  gateway environment:",
        f"    POLICYARC_ATLASSIAN_AUTH_URL={base_url}/auth",
        f"    POLICYARC_ATLASSIAN_API_URL={base_url}/api",
        f"    POLICYARC_ATLASSIAN_SITE_URL={base_url}/site/{{site}}",
        "  sites:",
        *(f"    {s.name:<10} {s.cloud_id}  {s.display_name}" for s in world.sites.values()),
        "  OAuth apps (client id / secret):",
        *(f"    {a.client_id} / {a.client_secret}  {a.name}" for a in world.apps.values()),
        "  users:",
    ]
    for user in world.users.values():
        sites = ", ".join(s.name for s in world.sites.values() if user.account_id in s.members) or "no site"
        lines.append(f"    {user.email:<22} {user.name:<14} {user.account_id}  ({sites})")
    return "\n".join(line for line in lines if line)


def serve(asgi_app: ASGIApp, host: str, port: int) -> None:
    """Serve with uvicorn, on uvloop and httptools when installed; no access log (it costs throughput)."""
    import uvicorn

    config = uvicorn.Config(
        asgi_app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    uvicorn.Server(config).run()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - only naming the wildcard, not binding it
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _ExceptionFilter(logging.Filter):
    def __init__(self, exc_type: type[BaseException]) -> None:
        super().__init__()
        self.exc_type = exc_type

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], self.exc_type))


def main() -> None:
    app()
