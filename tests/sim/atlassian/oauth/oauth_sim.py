"""A small world and a bare Starlette app around the OAuth routes, so these tests stand on their own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.sim.atlassian.model import OAuthApp, Site, User, World
from policyarc.sim.atlassian.oauth import TokenStore, oauth_routes
from policyarc.sim.atlassian.state import Clock, SimConfig, SimState

ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"
ZED = "712020:2ed00000-0000-4000-8000-000000000009"
ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
GLOBEX = "7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b"
DEMO_ID = "policyarc-demo"
DEMO_SECRET = "policyarc-demo-secret"
DEMO_CALLBACK = "http://127.0.0.1:8765/oauth/idp/atlassian/callback"
OTHER_ID = "other-app"
OTHER_SECRET = "other-app-secret-value"
OTHER_CALLBACK = "https://gw.example.com/oauth/idp/atlassian/callback"
ALL_SCOPES = "read:jira-work read:jira-user write:jira-work read:me offline_access"


def _site(cloud_id: str, name: str, members: set[str]) -> Site:
    return Site(
        cloud_id=cloud_id,
        name=name,
        display_name=name.title(),
        issue_types={},
        priorities={},
        default_priority_id="3",
        projects={},
        issues={},
        permissions={},
        members=members,
    )


def make_world() -> World:
    users = [
        User(ALICE, "alice@example.com", "Alice Adams"),
        User(BOB, "bob@example.com", "Bob Brown"),
        User(ZED, "zed@example.com", "Zed <Zero> & Co"),  # a member of no site; a name that needs escaping
    ]
    return World(
        users={user.account_id: user for user in users},
        sites={"acme": _site(ACME, "acme", {ALICE, BOB}), "globex": _site(GLOBEX, "globex", {ALICE})},
        apps={
            DEMO_ID: OAuthApp(
                DEMO_ID,
                DEMO_SECRET,
                "PolicyArc (demo)",
                ["http://127.0.0.1/oauth/idp/atlassian/callback", "http://localhost/oauth/idp/atlassian/callback"],
            ),
            OTHER_ID: OAuthApp(OTHER_ID, OTHER_SECRET, "Other <App>", [OTHER_CALLBACK, "http://localhost:9000/cb"]),
        },
    )


@dataclass
class Sim:
    client: httpx.AsyncClient
    state: SimState
    store: TokenStore
    clock: Clock

    async def authorize(self, **params: str) -> httpx.Response:
        return await self.client.get("/auth/authorize", params=authorize_params(**params))

    async def exchange(self, code: str, redirect_uri: str = DEMO_CALLBACK, **overrides: str) -> httpx.Response:
        body = {
            "grant_type": "authorization_code",
            "client_id": DEMO_ID,
            "client_secret": DEMO_SECRET,
            "code": code,
            "redirect_uri": redirect_uri,
            **overrides,
        }
        return await self.client.post("/auth/oauth/token", json=body)

    async def refresh(self, refresh_token: str, **overrides: str) -> httpx.Response:
        body = {
            "grant_type": "refresh_token",
            "client_id": DEMO_ID,
            "client_secret": DEMO_SECRET,
            "refresh_token": refresh_token,
            **overrides,
        }
        return await self.client.post("/auth/oauth/token", json=body)

    async def code_for(self, email: str = "alice@example.com", **params: str) -> str:
        """Run the consent page as `email` and return the code it gives."""
        page = await self.authorize(login_hint=email, **params)
        assert page.status_code == 200, page.text
        form = hidden_fields(page.text)
        account_id = next(u.account_id for u in self.state.world.users.values() if u.email == email)
        accepted = await self.client.post(
            "/auth/authorize", data={**form, "account_id": account_id, "decision": "accept"}
        )
        assert accepted.status_code == 302, accepted.text
        return query_of(accepted)["code"]


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "audience": "api.atlassian.com",
        "client_id": DEMO_ID,
        "scope": ALL_SCOPES,
        "redirect_uri": DEMO_CALLBACK,
        "state": "st-123",
        "response_type": "code",
        "prompt": "consent",
    }
    params.update(overrides)
    return params


def hidden_fields(html: str) -> dict[str, str]:
    import html as html_lib

    return {
        name: html_lib.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def query_of(response: httpx.Response) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SimFactory = Callable[..., AbstractAsyncContextManager[Sim]]


@pytest.fixture
def make_sim() -> SimFactory:
    @asynccontextmanager
    async def factory(**config: Any) -> AsyncIterator[Sim]:
        sim_config = SimConfig(**config)
        clock = Clock()
        world = make_world()
        store = TokenStore(sim_config, clock, world)
        app = Starlette(routes=oauth_routes())
        app.state.sim = SimState(sim_config, world, store, clock)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as client:
            yield Sim(client, app.state.sim, store, clock)

    return factory


@pytest.fixture
async def sim(make_sim: SimFactory) -> AsyncIterator[Sim]:
    async with make_sim() as running:
        yield running
