"""Identity providers → Atlassian: the OAuth app's client id and secret (write-only), the callback URL and scopes
to register in Atlassian's developer console, and whether it is connected."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.identity.atlassian import ATLASSIAN_SCOPES
from policyarc.services.environments import get_environment
from policyarc.services.errors import NotFound, ServiceError
from policyarc.services.idp import ATLASSIAN, IdpView, callback_url, set_idp, show_idp

__all__ = ["IdentityPages"]


class IdentityPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    async def atlassian(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        problem = None
        client_id = ""
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            if request.method == "POST":
                form = request.state.form
                client_id = str(form.get("client_id", "")).strip()[:300]
                secret = str(form.get("client_secret", ""))
                try:
                    await set_idp(
                        db,
                        environment,
                        self.api.keyring,
                        kind=ATLASSIAN,
                        client_id=client_id,
                        client_secret=secret or None,  # blank keeps the stored secret
                        scopes=None,
                        public_url=self.api.public_url,
                        actor=f"console:{signed_in.admin.email}",
                    )
                except ServiceError as exc:
                    problem = exc.message
                else:
                    await db.commit()
                    await self.api.changed("idp", environment.id)
                    return RedirectResponse(f"{PREFIX}/e/{name}/idp/atlassian?saved=1", status_code=303)
            idp: IdpView | None
            try:
                idp = await show_idp(db, environment, ATLASSIAN, public_url=self.api.public_url)
            except NotFound:
                idp = None
        return self.console.render.page(
            "idp_atlassian.html",
            status=400 if problem else 200,
            **await self.console.frame(request, signed_in, name),
            idp=idp,
            client_id=client_id or (idp.client_id if idp else ""),
            callback=callback_url(self.api.public_url, ATLASSIAN),
            scopes=ATLASSIAN_SCOPES,
            problem=problem,
            saved=request.query_params.get("saved") == "1",
        )

    def routes(self) -> list[BaseRoute]:
        return [Route(f"{PREFIX}/e/{{env}}/idp/atlassian", self.console.page(self.atlassian), methods=["GET", "POST"])]
