"""The product on real loopback sockets, for a real browser: the Atlassian simulator and the gateway, served by
uvicorn on one event loop in a background thread, seeded the way the demo seeds them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette

from policyarc.app import Gateway, create_app
from policyarc.demo import DemoPlan, connect_atlassian_jira
from policyarc.services.admins import create_admin
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

ADMIN = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Live:
    """A running product. `run(coro)` executes a coroutine on the servers' loop (for seeding and checks)."""

    plan: DemoPlan
    app: Starlette
    sim: Starlette
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return self.plan.gateway_url

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        return asyncio.run_coroutine_threadsafe(_call(work), self.loop).result(timeout=60)

    def connect_idp(self) -> None:
        self.run(
            lambda: connect_atlassian_jira(
                self.gateway,
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                cloud_id=None,
                actor="test",
                with_connector=False,
            )
        )


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


@contextlib.contextmanager
def live_product(data_dir: Path, *, admin: bool = True) -> Iterator[Live]:
    plan = DemoPlan(data_dir=data_dir, gateway_port=free_port(), sim_port=free_port())
    sim = create_sim_app(SimConfig(auto_consent=False, rate_limits_enabled=False))
    app = create_app(plan.settings())
    servers = [
        uvicorn.Server(uvicorn.Config(sim, host=plan.host, port=plan.sim_port, log_level="warning", lifespan="off")),
        uvicorn.Server(uvicorn.Config(app, host=plan.host, port=plan.gateway_port, log_level="warning")),
    ]
    for server in servers:
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> None:
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.02)
        started.set()
        await asyncio.gather(*tasks)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="live-product", daemon=True)
    thread.start()
    if not started.wait(30) or not all(server.started for server in servers):
        raise RuntimeError("the live product did not start")
    live = Live(plan=plan, app=app, sim=sim, loop=loop)
    if admin:
        live.run(lambda: _admin(live.gateway))
    try:
        yield live
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(30)
        loop.close()


async def _admin(gateway: Gateway) -> Any:
    async with gateway.sessions.begin() as session:
        return await create_admin(session, ADMIN, ADMIN_PASSWORD, actor="test")
