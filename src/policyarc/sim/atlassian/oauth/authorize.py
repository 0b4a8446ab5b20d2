"""GET and POST /auth/authorize: sign-in and consent for an OAuth 2.0 (3LO) app.

A request that names no known app, or a callback the app did not register, gets an error page and is
never redirected (that would make the simulator an open redirector, and Atlassian does not either).
Every other mistake goes back to the callback as `error=...&error_description=...&state=...`
(RFC 6749 4.1.2.1). The consent form carries the request in hidden fields, and the POST validates them
again from scratch: nothing posted is trusted for having been on the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from policyarc.sim.atlassian.model import OAuthApp, User, World
from policyarc.sim.atlassian.oauth.context import sim_state, token_store
from policyarc.sim.atlassian.oauth.page import consent_page, error_page
from policyarc.sim.atlassian.oauth.scopes import KNOWN_SCOPES

AUDIENCE = "api.atlassian.com"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Seed fact: the demo app may call back to any loopback URL (the gateway runs on whatever port it likes).
ANY_LOOPBACK_CLIENT_IDS = frozenset({"policyarc-demo"})
ACCESS_DENIED_DESCRIPTION = "User did not authorize the request"
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class AuthorizeRequest:
    """A request to /auth/authorize that passed validation."""

    app: OAuthApp
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    login_hint: str | None


@dataclass(frozen=True)
class ErrorPage:
    """Shown in the browser; the callback cannot be trusted."""

    message: str


@dataclass(frozen=True)
class ErrorRedirect:
    """Sent back to the (validated) callback."""

    redirect_uri: str
    error: str
    description: str
    state: str | None


def callback_allowed(app: OAuthApp, redirect_uri: str) -> bool:
    """Whether the app registered this callback.

    Exact match, with loopback leniency for development (RFC 8252 7.3): a registered callback on
    127.0.0.1 or localhost matches the same URL on any port, and the demo app, whose seed registers
    loopback callbacks, accepts any loopback callback at all (any port, any path).
    """
    if redirect_uri in app.callback_urls:
        return True
    parsed = urlsplit(redirect_uri)
    if parsed.scheme not in ("http", "https") or parsed.fragment or parsed.username or parsed.password:
        return False
    try:
        parsed.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parsed.hostname not in LOOPBACK_HOSTS:
        return False
    if app.client_id in ANY_LOOPBACK_CLIENT_IDS:
        return any(urlsplit(url).hostname in LOOPBACK_HOSTS for url in app.callback_urls)
    return any(_same_but_port(parsed, urlsplit(url)) for url in app.callback_urls)


def _same_but_port(asked: SplitResult, registered: SplitResult) -> bool:
    return (asked.scheme, asked.hostname, asked.path or "/", asked.query) == (
        registered.scheme,
        registered.hostname,
        registered.path or "/",
        registered.query,
    )


def validate(params: Mapping[str, str], world: World) -> AuthorizeRequest | ErrorPage | ErrorRedirect:
    """Check an authorization request: the client and callback first, then what can be reported to it."""
    client_id = params.get("client_id", "")
    app = world.apps.get(client_id)
    if app is None:
        return ErrorPage("The app's client_id is missing or not recognised.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not callback_allowed(app, redirect_uri):
        return ErrorPage("The redirect_uri does not match any callback URL registered for the app.")
    state = params.get("state") or None

    def fail(error: str, description: str) -> ErrorRedirect:
        return ErrorRedirect(redirect_uri, error, description, state)

    if params.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code")
    if params.get("audience") != AUDIENCE:
        return fail("invalid_request", f"audience must be {AUDIENCE}")
    scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
    if not scopes:
        return fail("invalid_scope", "scope is required")
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        return fail("invalid_scope", f"Unknown scope: {' '.join(unknown)}")
    return AuthorizeRequest(app, redirect_uri, scopes, state, params.get("login_hint") or None)


def redirect_with(redirect_uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
    """A 302 to the callback with `params` added to whatever query it already has."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((name, value) for name, value in params.items() if value is not None)
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


async def authorize_get(request: Request) -> Response:
    state = sim_state(request)
    checked = validate(request.query_params, state.world)
    if not isinstance(checked, AuthorizeRequest):
        return _render_error(checked)
    hinted = state.world.user_by_email(checked.login_hint) if checked.login_hint else None
    if state.config.auto_consent:
        user = hinted if checked.login_hint else next(iter(state.world.users.values()), None)
        if user is not None:
            return _grant(request, checked, user)
    return _render_consent(request, checked, hinted)


async def authorize_post(request: Request) -> Response:
    state = sim_state(request)
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    checked = validate(fields, state.world)
    if not isinstance(checked, AuthorizeRequest):
        return _render_error(checked)
    decision = fields.get("decision")
    if decision == "cancel":
        return redirect_with(
            checked.redirect_uri,
            {"error": "access_denied", "error_description": ACCESS_DENIED_DESCRIPTION, "state": checked.state},
        )
    user = state.world.users.get(fields.get("account_id", ""))
    if decision != "accept" or user is None:
        hinted = state.world.user_by_email(checked.login_hint) if checked.login_hint else None
        return _render_consent(request, checked, hinted, "Choose an account, then Accept or Cancel.", 400)
    return _grant(request, checked, user)


def _grant(request: Request, checked: AuthorizeRequest, user: User) -> Response:
    """Consent given: a code covering every site the user is a member of (possibly none)."""
    world = sim_state(request).world
    cloud_ids = [site.cloud_id for site in world.sites.values() if user.account_id in site.members]
    code = token_store(request).issue_code(
        checked.app.client_id, checked.redirect_uri, user.account_id, checked.scopes, cloud_ids
    )
    return redirect_with(checked.redirect_uri, {"code": code, "state": checked.state})


def _render_error(error: ErrorPage | ErrorRedirect) -> Response:
    if isinstance(error, ErrorPage):
        return HTMLResponse(error_page(error.message), status_code=400, headers=_NO_STORE)
    return redirect_with(
        error.redirect_uri, {"error": error.error, "error_description": error.description, "state": error.state}
    )


def _render_consent(
    request: Request,
    checked: AuthorizeRequest,
    hinted: User | None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    hidden = {
        "client_id": checked.app.client_id,
        "redirect_uri": checked.redirect_uri,
        "scope": " ".join(checked.scopes),
        "audience": AUDIENCE,
        "response_type": "code",
        "state": checked.state or "",
        "login_hint": checked.login_hint or "",
    }
    html = consent_page(
        action=request.url.path,
        app_name=checked.app.name,
        scopes=checked.scopes,
        users=sim_state(request).world.users.values(),
        selected_account_id=hinted.account_id if hinted else None,
        hidden=hidden,
        message=message,
    )
    return HTMLResponse(html, status_code=status_code, headers=_NO_STORE)
