"""Resources: the environment's connectors, the gallery of templates, a template's form (with the look-up that
fills one field from another), a connector's status screen, and how to wire MCP clients to it."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.connectors.registry import TEMPLATES, Template, template
from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.policy.reach import scope_reach
from policyarc.services.audit import AuditFilter, tail_audit
from policyarc.services.connectors import add_jira_connector, list_connectors, remove_connector, resolve_site
from policyarc.services.environments import DEFAULT_ENVIRONMENT, get_environment, mcp_url
from policyarc.services.errors import NotFound, ServiceError
from policyarc.services.idp import show_idp
from policyarc.services.policies import show_policy
from policyarc.store.models import Environment

__all__ = ["ResourcePages", "client_setups"]


@dataclass(frozen=True)
class ClientSetup:
    name: str
    steps: str
    snippet: str


def client_setups(name: str, mcp_url: str) -> list[ClientSetup]:
    """How each MCP client connects to `mcp_url`, with the URL filled in (Claude Code first: recommended)."""
    entry = {"type": "http", "url": mcp_url}
    return [
        ClientSetup(
            "Claude Code",
            "Run this once in a terminal, then start Claude Code and sign in when it asks (/mcp shows the server).",
            f"claude mcp add --transport http {name} {shlex.quote(mcp_url)}",
        ),
        ClientSetup(
            "Claude Desktop",
            "Settings → Connectors → Add custom connector, with this URL. Or, in claude_desktop_config.json, "
            "through the mcp-remote bridge:",
            json.dumps({"mcpServers": {name: {"command": "npx", "args": ["-y", "mcp-remote", mcp_url]}}}, indent=2),
        ),
        ClientSetup(
            "Cursor",
            "Add to ~/.cursor/mcp.json (or .cursor/mcp.json in a project), then enable the server and sign in:",
            json.dumps({"mcpServers": {name: {"url": mcp_url}}}, indent=2),
        ),
        ClientSetup(
            "VS Code",
            "Add to .vscode/mcp.json (or run MCP: Add Server… → HTTP), then start the server and sign in:",
            json.dumps({"servers": {name: entry}}, indent=2),
        ),
        ClientSetup(
            "MCP Inspector",
            "Run the Inspector, choose Transport Type: Streamable HTTP, paste the URL, and connect (it runs the "
            "sign-in itself):",
            f"npx @modelcontextprotocol/inspector\n# URL: {mcp_url}",
        ),
        ClientSetup(
            "Any other client (JSON)",
            "Most clients take a server entry of this shape:",
            json.dumps({"mcpServers": {name: entry}}, indent=2),
        ),
    ]


class ResourcePages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    def mcp_url(self, environment_name: str) -> str:
        return mcp_url(self.api.public_url, environment_name)

    async def _idp_connected(self, db: Any, environment: Environment) -> dict[str, bool]:
        connected = {}
        for kind in {t.idp_kind for t in TEMPLATES.values()}:
            try:
                await show_idp(db, environment, kind, public_url=self.api.public_url)
                connected[kind] = True
            except NotFound:
                connected[kind] = False
        return connected

    async def resources(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            connectors = await list_connectors(db, environment)
        return self.console.render.page(
            "resources.html", **await self.console.frame(request, signed_in, name), connectors=connectors
        )

    async def gallery(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            connected = await self._idp_connected(db, environment)
            existing = {c.template for c in await list_connectors(db, environment)}
        unlocked = [t for t in TEMPLATES.values() if connected[t.idp_kind]]
        locked = [t for t in TEMPLATES.values() if not connected[t.idp_kind]]
        return self.console.render.page(
            "gallery.html",
            **await self.console.frame(request, signed_in, name),
            unlocked=unlocked,
            locked=locked,
            existing=existing,
        )

    def _template(self, request: Request) -> Template:
        found = template(request.path_params["template"])
        if found is None:
            raise NotFound("template_not_found", "There is no such connector template.")
        return found

    async def new(self, request: Request, signed_in: SignedIn) -> Response:
        """The template's form; on POST, connect (a blank cloud ID is looked up, so it works without JavaScript)."""
        name = request.path_params["env"]
        chosen = self._template(request)
        values = {field.name: "" for field in chosen.fields}
        problem: str | None = None
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            if not (await self._idp_connected(db, environment))[chosen.idp_kind]:
                problem = f"Connect the {chosen.idp_name} identity provider first: it unlocks this template."
            elif request.method == "POST":
                form = request.state.form
                values = {field.name: str(form.get(field.name, "")).strip()[:200] for field in chosen.fields}
                try:
                    view = await add_jira_connector(
                        db,
                        environment,
                        site=values["site"],
                        cloud_id=values["cloud_id"] or None,
                        http=self.api.http,
                        site_url_template=self.api.site_url_template,
                        actor=f"console:{signed_in.admin.email}",
                    )
                except ServiceError as exc:
                    problem = exc.message
                else:
                    await db.commit()
                    await self.api.changed("connector", environment.id)
                    return RedirectResponse(f"{PREFIX}/e/{name}/connectors/{view.slug}?connected=1", status_code=303)
        return self.console.render.page(
            "connector_form.html",
            status=400 if problem and request.method == "POST" else 200,
            **await self.console.frame(request, signed_in, name),
            template=chosen,
            values=values,
            problem=problem,
        )

    async def lookup(self, request: Request, signed_in: SignedIn) -> Response:
        """The look-up behind the form's Tab: validate the site, ask tenant_info, answer the cloud ID field."""
        name = request.path_params["env"]
        chosen = self._template(request)
        field = next(f for f in chosen.fields if f.filled_from)
        source = str(request.state.form.get(field.filled_from or "", "")).strip()[:200]
        value, problem = "", None
        if source:
            try:
                value = (await resolve_site(self.api.http, self.api.site_url_template, source)).cloud_id
            except ServiceError as exc:
                problem = exc.message
        return self.console.render.page(
            "_lookup.html", env_name=name, template=chosen, field=field, value=value, problem=problem
        )

    async def status(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        slug = request.path_params["slug"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            connector = next((c for c in await list_connectors(db, environment) if c.slug == slug), None)
            if connector is None:
                raise NotFound("connector_not_found", f"Environment {name} has no connector {slug[:64]!r}.")
            chosen = template(connector.template)
            if chosen is None:
                raise NotFound("template_not_found", f"Connector {slug} uses a template this gateway does not know.")
            idp_ok = (await self._idp_connected(db, environment))[chosen.idp_kind]
            policy = await show_policy(db, environment)
            tools = {tool.name for tool in chosen.tools}
            calls = [
                r
                for r in reversed(await tail_audit(db, AuditFilter(environment_id=environment.id, limit=200)))
                if r.tool in tools
            ][:20]
        url = self.mcp_url(name)
        setups = client_setups(_server_name(name, slug), url)
        return self.console.render.page(
            "connector_status.html",
            **await self.console.frame(request, signed_in, name),
            connector=connector,
            template=chosen,
            idp_ok=idp_ok,
            reach=scope_reach(policy.text, chosen.scopes),
            calls=calls,
            mcp_url=url,
            claude_code=setups[0].snippet,
            just_connected=request.query_params.get("connected") == "1",
        )

    async def disconnect(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            await remove_connector(
                db, environment, request.path_params["slug"], actor=f"console:{signed_in.admin.email}"
            )
            await db.commit()
        await self.api.changed("connector", environment.id)
        return RedirectResponse(f"{PREFIX}/e/{name}/resources", status_code=303)

    async def clients(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            await get_environment(db, name)
        return self.console.render.page(
            "clients_setup.html",
            **await self.console.frame(request, signed_in, name),
            mcp_url=self.mcp_url(name),
            setups=client_setups(_server_name(name), self.mcp_url(name)),
        )

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        base = f"{PREFIX}/e/{{env}}"
        return [
            Route(f"{base}/resources", page(self.resources), methods=["GET"]),
            Route(f"{base}/resources/add", page(self.gallery), methods=["GET"]),
            Route(f"{base}/connectors/new/{{template}}", page(self.new), methods=["GET", "POST"]),
            Route(f"{base}/connectors/new/{{template}}/lookup", page(self.lookup), methods=["POST"]),
            Route(f"{base}/connectors/{{slug}}", page(self.status), methods=["GET"]),
            Route(f"{base}/connectors/{{slug}}/disconnect", page(self.disconnect), methods=["POST"]),
            Route(f"{base}/clients", page(self.clients), methods=["GET"]),
        ]


def _server_name(environment_name: str, slug: str = "jira") -> str:
    """The name a client gives the server: one per environment, so production and staging can sit side by side."""
    base = f"policyarc-{slug}"
    return base if environment_name == DEFAULT_ENVIRONMENT else f"{base}-{environment_name}"
