"""Identity providers → Atlassian: the OAuth app's client id and secret (write-only), the callback URL and scopes
to register in Atlassian's developer console, and whether it is connected."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.identity.atlassian import ATLASSIAN_SCOPES
from policyarc.oauth.sessions import LOGIN_COOKIE
from policyarc.services.environments import get_environment
from policyarc.services.errors import NotFound, ServiceError
from policyarc.services.idp import ATLASSIAN, IdpView, callback_url, set_idp, show_idp
from policyarc.templating import with_form_target

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
        tester = self.console.idp_test
        return self.console.render.page(
            "idp_atlassian.html",
            status=400 if problem else 200,
            # The test sign-in's form answers with a redirect to Atlassian: browsers check it against form-action.
            headers={"Content-Security-Policy": with_form_target(tester.sign_in_origin)} if tester else None,
            **await self.console.frame(request, signed_in, name),
            idp=idp,
            client_id=client_id or (idp.client_id if idp else ""),
            callback=callback_url(self.api.public_url, ATLASSIAN),
            scopes=ATLASSIAN_SCOPES,
            problem=problem,
            saved=request.query_params.get("saved") == "1",
        )

    async def test(self, request: Request, signed_in: SignedIn) -> Response:
        """Send the admin's browser through Atlassian with this environment's app; the callback shows the result."""
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
        now = self.console.now()
        started = (
            await self.console.idp_test.start(environment.id, now=now, expires_at=now + timedelta(minutes=10))
            if self.console.idp_test is not None
            else None
        )
        if started is None:
            return self.console.error(signed_in, 409, "Nothing to test", "Connect Atlassian first: save its app here.")
        url, nonce = started
        response = RedirectResponse(url, status_code=303)
        self.console.auth.cookies.set(response, LOGIN_COOKIE, nonce, max_age=600)
        return response

    def routes(self) -> list[BaseRoute]:
        base = f"{PREFIX}/e/{{env}}/idp/atlassian"
        return [
            Route(base, self.console.page(self.atlassian), methods=["GET", "POST"]),
            Route(f"{base}/test", self.console.page(self.test), methods=["POST"]),
        ]
