"""`create_console_routes()`: the web console's pages, over the same service functions as the admin API and CLI.

Every page but sign-in and set-up needs a signed-in admin (`_page`); every POST also needs the form's CSRF token
(`_form`). Handlers read input, call one service, and render: what a page shows is decided in `services/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from policyarc import __version__
from policyarc.api.handlers import AdminApi
from policyarc.console.auth import SESSION_COOKIE, ConsoleAuth, SignedIn
from policyarc.console.render import Renderer
from policyarc.console.throttle import SignInThrottle
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
from policyarc.services.environments import DEFAULT_ENVIRONMENT, get_environment, list_environments
from policyarc.services.errors import ServiceError

__all__ = ["PREFIX", "Console", "create_console_routes", "setup_url"]

PREFIX = "/console"
SESSION_TTL = timedelta(hours=12)
MAX_FORM = 64 * 1024

PageHandler = Callable[[Request, SignedIn], Awaitable[Response]]


def setup_url(public_url: str, raw_token: str) -> str:
    """The one-time link an invited admin opens to choose a password."""
    return f"{public_url.rstrip('/')}{PREFIX}/setup/{quote(raw_token, safe='')}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Console:
    """The console's pages. Built once with what they share; `routes()` lists them."""

    def __init__(
        self,
        api: AdminApi,
        *,
        auth: ConsoleAuth,
        throttle: SignInThrottle | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.api = api
        self.auth = auth
        self.throttle = throttle or SignInThrottle()
        self.now = now
        self.render = Renderer(globals={"version": __version__, "static": f"{PREFIX}/static", "prefix": PREFIX})

    # -- the frame every signed-in page shares ----------------------------------------------------------------

    def _page(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            signed_in = await self.auth.signed_in(request)
            if signed_in is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)
            if request.method == "POST":
                form = await _form(request)
                if form is None:
                    return self.error(signed_in, 413, "Too much data", "The form was larger than the console accepts.")
                if not signed_in.csrf_ok(form.get("csrf")):
                    return self.error(
                        signed_in,
                        403,
                        "This form has expired",
                        "The page was open too long or came from another site. Go back, reload it, and try again.",
                    )
                request.state.form = form
            try:
                return await handler(request, signed_in)
            except ServiceError as exc:
                return self.error(signed_in, exc.status if exc.status < 500 else 502, "That did not work", exc.message)

        return endpoint

    async def frame(self, request: Request, signed_in: SignedIn, env_name: str | None) -> dict[str, Any]:
        """What the layout needs: the admin, the CSRF token, the environments for the switcher."""
        async with self.api.sessions() as db:
            environments = await list_environments(db)
        return {
            "admin": signed_in.admin,
            "csrf": signed_in.csrf,
            "environments": environments,
            "env_name": env_name,
            "path": request.url.path,
        }

    def error(self, signed_in: SignedIn | None, status: int, title: str, message: str) -> Response:
        return self.render.page(
            "error.html",
            status=status,
            title=title,
            message=message,
            admin=signed_in.admin if signed_in else None,
            csrf=signed_in.csrf if signed_in else "",
            environments=[],
            env_name=None,
            path="",
        )

    # -- signing in and out --------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/e/{DEFAULT_ENVIRONMENT}", status_code=303)

    async def sign_in(self, request: Request) -> Response:
        next_path = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            if await self.auth.signed_in(request) is not None:
                return RedirectResponse(next_path, status_code=303)
            return self._sign_in_page(request, next_path)
        form = await _form(request)
        if form is None:
            return self._sign_in_page(request, next_path, status=413, problem="The form was too large.")
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))
        next_path = _safe_next(str(form.get("next", "")))
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
                form = await _form(request)
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
            mcp_url=f"{self.api.public_url.rstrip('/')}/mcp",
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
            Route(f"{PREFIX}/sign-out", self._page(self.sign_out), methods=["POST"]),
            Route(f"{PREFIX}/setup/{{token}}", self.setup, methods=["GET", "POST"]),
            Route(f"{PREFIX}/admins", self._page(self.admins), methods=["GET", "POST"]),
            Route(f"{PREFIX}/e/{{env}}", self._page(self.dashboard), methods=["GET"]),
            Mount(f"{PREFIX}/static", StaticFiles(packages=[("policyarc.console", "static")]), name="console-static"),
        ]


def create_console_routes(console: Console) -> list[BaseRoute]:
    return console.routes()


async def _form(request: Request) -> FormData | None:
    """The posted form, or None when it is larger than the console accepts."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM):
        return None
    return await request.form(max_files=0, max_fields=100, max_part_size=MAX_FORM)


def _safe_next(value: str | None) -> str:
    """Only a path inside the console: never another site (open redirect)."""
    if not value:
        return PREFIX
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(PREFIX) or value.startswith("//") or "\\" in value:
        return PREFIX
    return value
