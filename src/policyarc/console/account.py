"""Signing in and out, first start and invitations (set-up links), the admins page, and the dashboard."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.console.auth import SESSION_COOKIE, SignedIn
from policyarc.console.core import PREFIX, SESSION_TTL, Console, read_form, safe_next, setup_url
from policyarc.services.admins import (
    MIN_PASSWORD,
    check_credentials,
    complete_setup,
    end_session,
    invite_admin,
    list_admins,
    setup_link_admin,
    start_session,
)
from policyarc.services.dashboard import environment_overview
from policyarc.services.environments import DEFAULT_ENVIRONMENT, get_environment, mcp_url
from policyarc.services.errors import ServiceError

__all__ = ["AccountPages"]


class AccountPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api
        self.auth = console.auth
        self.throttle = console.throttle
        self.render = console.render
        self.now = console.now
        self.error = console.error
        self.frame = console.frame

    # -- signing in and out --------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/e/{DEFAULT_ENVIRONMENT}", status_code=303)

    async def sign_in(self, request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            if await self.auth.signed_in(request) is not None:
                return RedirectResponse(next_path, status_code=303)
            return self._sign_in_page(request, next_path)
        form = await read_form(request)
        if form is None:
            return self._sign_in_page(request, next_path, status=413, problem="The form was too large.")
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))
        next_path = safe_next(str(form.get("next", "")))
        if not self.auth.pre_ok(request, form.get("pre")):
            return self._sign_in_page(
                request, next_path, email=email, status=403, problem="The sign-in form expired. Try again."
            )
        address = request.client.host if request.client else "unknown"
        wait = self.throttle.wait_for(email, address)
        if wait > 0:
            return self._sign_in_page(
                request,
                next_path,
                email=email,
                status=429,
                problem=f"Too many failed sign-ins. Wait {int(wait) + 1} seconds, then try again.",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        async with self.api.sessions() as db:
            admin = await check_credentials(db, email, password, now=self.now())
            if admin is None:
                await db.rollback()
                self.throttle.failed(email, address)
                return self._sign_in_page(
                    request, next_path, email=email, status=401, problem="That email and password do not match."
                )
            raw = await start_session(db, admin.id, expires_at=self.now() + SESSION_TTL)
            await db.commit()
        self.throttle.succeeded(email)
        response = RedirectResponse(next_path, status_code=303)
        self.auth.cookies.set(response, SESSION_COOKIE, raw, max_age=int(SESSION_TTL.total_seconds()))
        return response

    def _sign_in_page(
        self,
        request: Request,
        next_path: str,
        *,
        email: str = "",
        status: int = 200,
        problem: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        pre = self.auth.pre_token(request)
        response = self.render.page(
            "sign_in.html",
            status=status,
            headers=headers,
            pre=pre,
            next=next_path,
            email=email,
            problem=problem,
            password_set=request.query_params.get("set") == "1",
        )
        self.auth.set_pre(response, pre)
        return response

    async def sign_out(self, request: Request, signed_in: SignedIn) -> Response:
        async with self.api.sessions() as db:
            await end_session(db, signed_in.session_raw)
            await db.commit()
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        self.auth.cookies.clear(response, SESSION_COOKIE)
        return response

    async def setup(self, request: Request) -> Response:
        """An invited admin chooses a password; the first start's link also asks for the email."""
        raw = request.path_params["token"]
        problem = None
        email = ""
        async with self.api.sessions() as db:
            try:
                admin = await setup_link_admin(db, raw, now=self.now())
            except ServiceError as exc:
                return self.error(None, 404, "Set-up link not valid", exc.message)
            if request.method == "POST":
                form = await read_form(request)
                password = str(form.get("password", "")) if form is not None else ""
                confirm = str(form.get("confirm", "")) if form is not None else ""
                email = str(form.get("email", ""))[:320] if form is not None else ""
                if form is None or not self.auth.pre_ok(request, form.get("pre")):
                    problem = "The form expired. Try again."
                elif password != confirm:
                    problem = "The two passwords are not the same."
                else:
                    try:
                        await complete_setup(
                            db, raw, password, now=self.now(), email=None if admin is not None else email
                        )
                    except ServiceError as exc:
                        problem = exc.message
                    else:
                        await db.commit()
                        return RedirectResponse(f"{PREFIX}/sign-in?set=1", status_code=303)
        pre = self.auth.pre_token(request)
        response = self.render.page(
            "setup.html",
            status=400 if problem else 200,
            email=admin.email if admin is not None else None,
            typed_email=email,
            pre=pre,
            problem=problem,
            min_password=MIN_PASSWORD,
        )
        self.auth.set_pre(response, pre)
        return response

    # -- pages -----------------------------------------------------------------------------------------------------

    async def dashboard(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            midnight = self.now().replace(hour=0, minute=0, second=0, microsecond=0)
            overview = await environment_overview(db, environment, public_url=self.api.public_url, since=midnight)
        return self.render.page(
            "dashboard.html",
            **await self.frame(request, signed_in, name),
            overview=overview,
            mcp_url=mcp_url(self.api.public_url, name),
        )

    async def admins(self, request: Request, signed_in: SignedIn) -> Response:
        invited: tuple[str, str] | None = None
        problem = None
        if request.method == "POST":
            email = str(request.state.form.get("email", ""))
            async with self.api.sessions() as db:
                try:
                    view, raw = await invite_admin(db, email, actor=signed_in.admin.email, now=self.now())
                except ServiceError as exc:
                    problem = exc.message
                else:
                    await db.commit()
                    invited = (view.email, setup_url(self.api.public_url, raw))
        async with self.api.sessions() as db:
            admins = await list_admins(db)
        return self.render.page(
            "admins.html",
            status=400 if problem else 200,
            **await self.frame(request, signed_in, DEFAULT_ENVIRONMENT),
            admins=admins,
            invited=invited,
            problem=problem,
        )

    async def switch(self, request: Request) -> Response:
        """The environment switcher's target (a GET form, so it works without JavaScript)."""
        name = request.query_params.get("env", DEFAULT_ENVIRONMENT)
        return RedirectResponse(f"{PREFIX}/e/{quote(name, safe='')}", status_code=303)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/switch", self.switch, methods=["GET"]),
            Route("/", self.home, methods=["GET"]),
            Route(PREFIX, self.home, methods=["GET"]),
            Route(f"{PREFIX}/sign-in", self.sign_in, methods=["GET", "POST"]),
            Route(f"{PREFIX}/sign-out", self.console.page(self.sign_out), methods=["POST"]),
            Route(f"{PREFIX}/setup/{{token}}", self.setup, methods=["GET", "POST"]),
            Route(f"{PREFIX}/admins", self.console.page(self.admins), methods=["GET", "POST"]),
            Route(f"{PREFIX}/e/{{env}}", self.console.page(self.dashboard), methods=["GET"]),
        ]
