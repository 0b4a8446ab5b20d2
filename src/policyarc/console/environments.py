"""Environments: every environment with its MCP URL, and a form to create one.

A new environment starts with the default policy and no identity provider (`services.environments`); the page
sends the admin on to its dashboard, which says what to connect next. The running gateway serves it at
`/mcp/NAME` at once (the environment directory reloads on the "environment" change), no restart.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.services.environments import create_environment, list_environments
from policyarc.services.errors import ServiceError

__all__ = ["EnvironmentPages"]


class EnvironmentPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    async def environments(self, request: Request, signed_in: SignedIn) -> Response:
        problem = None
        name = ""
        if request.method == "POST":
            name = str(request.state.form.get("name", "")).strip().lower()[:100]
            async with self.api.sessions() as db:
                try:
                    environment = await create_environment(db, name, actor=f"console:{signed_in.admin.email}")
                except ServiceError as exc:
                    problem = exc.message
                else:
                    await db.commit()
                    await self.api.changed("environment", environment.id)
                    return RedirectResponse(f"{PREFIX}/environments?created={name}", status_code=303)
        async with self.api.sessions() as db:
            environments = await list_environments(db, public_url=self.api.public_url)
        created = request.query_params.get("created", "")
        return self.console.render.page(
            "environments.html",
            status=400 if problem else 200,
            **await self.console.frame(request, signed_in, None),
            listed=environments,
            entered=name,
            problem=problem,
            created=next((e for e in environments if e.name == created), None),
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/environments", self.console.page(self.environments), methods=["GET", "POST"]),
        ]
