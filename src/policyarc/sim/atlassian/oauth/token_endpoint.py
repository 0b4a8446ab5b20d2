"""POST /auth/oauth/token: the authorization-code and refresh-token grants (RFC 6749 4.1.3, 6).

Atlassian documents a JSON body; like most OAuth servers it also takes a form body. Any other content
type is refused with 415 and an OAuth error body (our choice; the real endpoint's answer is not documented).
Errors follow what auth.atlassian.com answers: a client that fails authentication gets
401 `access_denied`/`Unauthorized` (not RFC 6749's `invalid_client`), a bad code or refresh token
403 `invalid_grant`, a malformed request 400. Descriptions name parameters, never their values.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.sim.atlassian.oauth.context import sim_state, token_store
from policyarc.sim.atlassian.oauth.tokens import InvalidGrantError

# RFC 6749 5.1: token responses must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "authorization_code": ("client_id", "client_secret", "code", "redirect_uri"),
    "refresh_token": ("client_id", "client_secret", "refresh_token"),
}


@dataclass(frozen=True)
class OAuthError:
    status: int
    error: str
    description: str

    def response(self) -> JSONResponse:
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=_NO_STORE)


UNAUTHORIZED_CLIENT = OAuthError(401, "access_denied", "Unauthorized")


async def token(request: Request) -> Response:
    params = await _read_params(request)
    if isinstance(params, OAuthError):
        return params.response()
    grant_type = params.get("grant_type")
    if not grant_type:
        return OAuthError(400, "invalid_request", "Missing required parameter: grant_type").response()
    required = _REQUIRED.get(grant_type)
    if required is None:
        return OAuthError(400, "unsupported_grant_type", "Unsupported grant type").response()
    for name in required:
        if not params.get(name):
            return OAuthError(400, "invalid_request", f"Missing required parameter: {name}").response()

    app = sim_state(request).world.apps.get(params["client_id"])
    # Compared as bytes: compare_digest refuses non-ASCII str, and a secret can be anything a client sends.
    if app is None or not hmac.compare_digest(params["client_secret"].encode(), app.client_secret.encode()):
        return UNAUTHORIZED_CLIENT.response()

    store = token_store(request)
    try:
        if grant_type == "authorization_code":
            issued = store.redeem_code(params["code"], app.client_id, params["redirect_uri"])
        else:
            issued = store.refresh(params["refresh_token"], app.client_id)
    except InvalidGrantError as exc:
        return OAuthError(403, "invalid_grant", exc.description).response()
    return JSONResponse(issued, headers=_NO_STORE)


async def _read_params(request: Request) -> dict[str, str] | OAuthError:
    """The request's parameters as strings, from a JSON or a form body."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        try:
            body: Any = json.loads(await request.body())
        except (ValueError, RecursionError):
            return OAuthError(400, "invalid_request", "Malformed JSON body")
        if not isinstance(body, dict):
            return OAuthError(400, "invalid_request", "The body must be a JSON object")
        params: dict[str, str] = {}
        for name, value in body.items():
            if isinstance(value, str):
                params[name] = value
            elif value is not None:
                return OAuthError(400, "invalid_request", f"Parameter {name} must be a string")
        return params
    if content_type == "application/x-www-form-urlencoded":
        form = await request.form()
        return {name: value for name, value in form.items() if isinstance(value, str)}
    return OAuthError(
        415, "invalid_request", "Content-Type must be application/json or application/x-www-form-urlencoded"
    )
