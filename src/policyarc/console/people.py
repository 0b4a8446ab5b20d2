"""People and clients: who signed in (their Atlassian link, last use) and which MCP clients are registered; revoke
either."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.services.environments import get_environment
from policyarc.services.people import list_clients, list_people, revoke_client, revoke_person

__all__ = ["PeoplePages"]


class PeoplePages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    async def people(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            people = await list_people(db, environment)
            clients = await list_clients(db, environment)
        return self.console.render.page(
            "people.html",
            **await self.console.frame(request, signed_in, name),
            people=people,
            clients=clients,
            done=request.query_params.get("done", ""),
        )

    async def revoke_user(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            person = await revoke_person(
                db, environment, request.path_params["user"], actor=f"console:{signed_in.admin.email}",
                now=self.console.now(),
            )  # fmt: skip
            await db.commit()
        await self.api.changed("access", environment.id)  # every instance drops its cached callers at once
        return RedirectResponse(f"{PREFIX}/e/{name}/people?done=user:{person.email or person.id}", status_code=303)

    async def revoke_client(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        client_id = str(request.state.form.get("client_id", ""))
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            await revoke_client(
                db, environment, client_id, actor=f"console:{signed_in.admin.email}", now=self.console.now()
            )
            await db.commit()
        await self.api.changed("access", environment.id)
        return RedirectResponse(f"{PREFIX}/e/{name}/people?done=client", status_code=303)

    def routes(self) -> list[BaseRoute]:
        base = f"{PREFIX}/e/{{env}}/people"
        page = self.console.page
        return [
            Route(base, page(self.people), methods=["GET"]),
            Route(f"{base}/users/{{user}}/revoke", page(self.revoke_user), methods=["POST"]),
            Route(f"{base}/clients/revoke", page(self.revoke_client), methods=["POST"]),
        ]
