"""What every console page shares: the signed-in check and CSRF check (`Console.page`), the layout's context
(`frame`), error pages, and reading forms within a size bound."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from policyarc import __version__
from policyarc.api.handlers import AdminApi
from policyarc.console.auth import ConsoleAuth, SignedIn
from policyarc.console.throttle import SignInThrottle
from policyarc.services.environments import list_environments
from policyarc.services.errors import ServiceError
from policyarc.templating import Renderer

__all__ = ["PREFIX", "Console", "IdpTester", "PageHandler", "read_form", "safe_next", "setup_url"]

PREFIX = "/console"
SESSION_TTL = timedelta(hours=12)
MAX_FORM = 64 * 1024

PageHandler = Callable[[Request, SignedIn], Awaitable[Response]]


class IdpTester(Protocol):
    """oauth/idp_test.py: starts an admin's test sign-in with an environment's Atlassian app."""

    @property
    def sign_in_origin(self) -> str: ...

    async def start(self, environment_id: str, *, now: datetime, expires_at: datetime) -> tuple[str, str] | None: ...


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
        idp_test: IdpTester | None = None,
    ) -> None:
        self.idp_test = idp_test
        self.api = api
        self.auth = auth
        self.throttle = throttle or SignInThrottle()
        self.now = now
        self.render = Renderer(globals={"version": __version__, "static": f"{PREFIX}/static", "prefix": PREFIX})

    # -- the frame every signed-in page shares ----------------------------------------------------------------

    def page(
        self, handler: PageHandler, *, max_fields: int = 100, max_bytes: int = MAX_FORM
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind the sign-in check and, for POST, the CSRF check. A page whose form is larger than
        most (the policy editor: many rules, or Cedar text) raises `max_fields` and `max_bytes` for itself."""

        async def endpoint(request: Request) -> Response:
            signed_in = await self.auth.signed_in(request)
            if signed_in is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)
            if request.method == "POST":
                form = await read_form(request, max_fields=max_fields, max_bytes=max_bytes)
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
            environments = await list_environments(db, public_url=self.api.public_url)
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


async def read_form(request: Request, *, max_fields: int = 100, max_bytes: int = MAX_FORM) -> FormData | None:
    """The posted form, or None when it is larger than the console accepts."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_bytes):
        return None
    return await request.form(max_files=0, max_fields=max_fields, max_part_size=max_bytes)


def safe_next(value: str | None) -> str:
    """Only a path inside the console: never another site (open redirect)."""
    if not value:
        return PREFIX
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(PREFIX) or value.startswith("//") or "\\" in value:
        return PREFIX
    return value
