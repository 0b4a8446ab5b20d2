"""`policyarc demo`: the Atlassian simulator and the gateway in one process, pre-wired, on SQLite.

The environment is seeded the way an admin would set it up (the Atlassian IdP with the simulator's demo
app, a Jira connector for the `acme` site, and a policy granting every Jira scope to every signed-in user, so
the demo can write), then both servers run on one event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from policyarc.app import Gateway, create_app
from policyarc.policy import Rule, rules_to_cedar
from policyarc.services.admins import create_admin
from policyarc.services.connectors import add_jira_connector
from policyarc.services.environments import DEFAULT_ENVIRONMENT, ensure_environment
from policyarc.services.idp import set_idp
from policyarc.services.policies import gateway_scopes, set_policy
from policyarc.settings import Settings, load_settings
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from policyarc.store.models import Connector, Policy

ACTOR = "policyarc demo"
DEMO_ADMIN = "admin@example.com"


@dataclass(frozen=True)
class DemoPlan:
    data_dir: Path
    host: str = "127.0.0.1"
    gateway_port: int = 8000
    sim_port: int = 9400
    fresh: bool = False  # no connector: the admin adds it in the console

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def sim_url(self) -> str:
        return f"http://{self.host}:{self.sim_port}"

    def settings(self) -> Settings:
        return load_settings(
            data_dir=self.data_dir,
            public_url=self.gateway_url,
            host=self.host,
            port=self.gateway_port,
            atlassian_auth_url=f"{self.sim_url}/auth",
            atlassian_api_url=f"{self.sim_url}/api",
            atlassian_site_url=f"{self.sim_url}/site/{{site}}",
        )


async def seed_environment(gateway: Gateway, sim: Starlette, *, with_connector: bool = True) -> None:
    """Idempotent: a second `policyarc demo` on the same data directory keeps what is there. Without the
    connector (`demo --fresh`), the admin adds it in the console."""
    acme = sim.state.sim.world.sites["acme"]
    # The simulator is not listening yet; its cloud ID is known.
    await connect_atlassian_jira(
        gateway,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        cloud_id=acme.cloud_id,
        actor=ACTOR,
        with_connector=with_connector,
    )
    await grant_every_scope(gateway, actor=ACTOR)


async def ensure_demo_admin(gateway: Gateway, data_dir: Path) -> str:
    """The console admin `admin@example.com`; returns its password, made on the first run and kept (mode 0600)
    in the data directory so that later runs print the same one."""
    path = data_dir / "demo-admin-password"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    async with gateway.sessions.begin() as session:
        await create_admin(session, DEMO_ADMIN, password, actor=ACTOR)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    return password


async def connect_atlassian_jira(
    gateway: Gateway,
    *,
    client_id: str,
    client_secret: str,
    cloud_id: str | None,
    actor: str,
    site: str = "acme",
    with_connector: bool = True,
    environment_name: str = DEFAULT_ENVIRONMENT,
) -> str:
    """The Atlassian IdP with this OAuth app, and a Jira connector for `site` unless the environment has one
    (`cloud_id=None` looks it up on the site), in `environment_name` (made when missing); returns its id.
    Shared by the demo, the benchmark and the end-to-end tests."""
    settings = gateway.settings
    async with gateway.sessions.begin() as session:
        environment = await ensure_environment(session, environment_name)
        await set_idp(
            session,
            environment,
            gateway.keyring,
            kind="atlassian",
            client_id=client_id,
            client_secret=client_secret,
            scopes=None,
            public_url=settings.public_url,
            actor=actor,
        )
        existing = await session.scalar(select(Connector.id).where(Connector.environment_id == environment.id))
        if existing is None and with_connector:
            await add_jira_connector(
                session,
                environment,
                site=site,
                cloud_id=cloud_id,
                http=gateway.http,
                site_url_template=settings.atlassian_site_url,
                actor=actor,
            )
        return environment.id


async def grant_every_scope(gateway: Gateway, *, actor: str) -> None:
    """A policy permitting every gateway scope to everyone, unless it is the current policy already."""
    async with gateway.sessions() as session:
        environment = await ensure_environment(session)
        text = rules_to_cedar([Rule(effect="permit", scopes=tuple(gateway_scopes()))])
        if (await _current_policy(session, environment.id)) != text:
            await set_policy(session, environment, text, scopes=gateway_scopes(), actor=actor)


async def _current_policy(session: AsyncSession, environment_id: str) -> str | None:
    row = await session.scalar(
        select(Policy).where(Policy.environment_id == environment_id).order_by(Policy.version.desc()).limit(1)
    )
    return row.text if row else None


def banner(plan: DemoPlan, sim: Starlette, admin_password: str) -> str:
    mcp_url = f"{plan.gateway_url}/mcp"
    client_json = json.dumps({"mcpServers": {"policyarc-jira": {"type": "http", "url": mcp_url}}}, indent=2)
    users = [f"    {u.email:<20} {u.name}" for u in sim.state.sim.world.users.values()]
    return "\n".join(
        [
            "PolicyArc demo is running (Ctrl-C stops both servers).",
            "",
            f"  MCP server (Jira, user passthrough):  {mcp_url}",
            f"  Atlassian simulator:                  {plan.sim_url}",
            f"  Data directory (SQLite, key ring):    {plan.data_dir}",
            "",
            f"Console: {plan.gateway_url}/console",
            f"    sign in as {DEMO_ADMIN} with the password {admin_password}",
            *(
                ["    The Atlassian identity provider is connected; add Jira in Resources -> Add connector."]
                if plan.fresh
                else []
            ),
            "",
            "Connect Claude Code:",
            f"    claude mcp add --transport http policyarc-jira {shlex.quote(mcp_url)}",
            "Other clients (JSON):",
            *("    " + line for line in client_json.splitlines()),
            "",
            "Sign in as one of the simulator's users (the sign-in page lists them):",
            *users,
            "    alice sees every acme project; bob sees ENG and OPS, and MKT read-only; carol sees none.",
            "The demo policy grants jira:issues:read, jira:issues:write and jira:projects:read to everyone.",
        ]
    )


async def run_demo(plan: DemoPlan) -> None:
    sim = create_sim_app(SimConfig())
    app = create_app(plan.settings())
    await seed_environment(app.state.gateway, sim, with_connector=not plan.fresh)
    password = await ensure_demo_admin(app.state.gateway, plan.data_dir)
    servers = [
        uvicorn.Server(_config(sim, plan.host, plan.sim_port, lifespan="off")),
        uvicorn.Server(_config(app, plan.host, plan.gateway_port, lifespan="on")),
    ]
    print(banner(plan, sim, password), flush=True)
    await asyncio.gather(*(server.serve() for server in servers))


def _config(app: Starlette, host: str, port: int, *, lifespan: Literal["on", "off"]) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning", lifespan=lifespan)


DEMO_FILES = ("policyarc.db", "policyarc.db-wal", "policyarc.db-shm", "keyring.json", "demo-admin-password")


def clear_demo_data(data_dir: Path) -> None:
    """`demo --fresh`: remove what an earlier demo left in `data_dir` (only the demo's own files, by name)."""
    for name in DEMO_FILES:
        (data_dir / name).unlink(missing_ok=True)
