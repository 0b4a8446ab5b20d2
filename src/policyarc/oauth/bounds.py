"""Size bounds on what unauthenticated callers can make the gateway store: client registrations and /authorize.

Each registered client and each pending authorization is a database row that anyone can create, so every field
that ends up in one has a ceiling well above what a real client sends and far below what fills a disk. The
problems are returned as data (a `RegistrationError`, or a description) and never echo the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence

from mcp.server.auth.provider import RegistrationError
from mcp.shared.auth import OAuthClientInformationFull
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "MAX_CLIENT_NAME",
    "MAX_JWKS_BYTES",
    "MAX_REDIRECT_URIS",
    "MAX_STATE",
    "MAX_URI",
    "code_challenge_problem",
    "guard_authorize",
    "registration_problem",
    "state_problem",
]

MAX_CLIENT_NAME = 200
MAX_URI = 2000  # a redirect URI, client_uri, logo_uri, ...: the de facto URL limit of browsers and proxies
MAX_REDIRECT_URIS = 10
MAX_SCOPE = 1000
MAX_CONTACTS = 10
MAX_CONTACT = 320  # an e-mail address (RFC 5321 section 4.5.3.1: 64 + 1 + 255)
MAX_LIST = 10  # grant_types, response_types
MAX_SHORT = 200  # software_id, software_version, one grant or response type
# jwks has no shape to bound field by field: its JSON text is bounded instead (a few RSA keys fit).
MAX_JWKS_BYTES = 8192
MAX_STATE = 2000

# RFC 6749 appendix A.5: state = 1*VSCHAR, VSCHAR = %x20-7E.
_STATE = re.compile(r"[\x20-\x7e]+")
# RFC 7636 section 4.2: for S256, BASE64URL(SHA256(verifier)) without padding, always 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri")
_SHORT_FIELDS = ("software_id", "software_version")


def registration_problem(client: OAuthClientInformationFull) -> RegistrationError | None:
    """The first field of an RFC 7591 registration over its bound, as the error to answer with; None if all fit."""
    uris = [str(uri) for uri in client.redirect_uris or []]
    if len(uris) > MAX_REDIRECT_URIS:
        return RegistrationError(
            "invalid_redirect_uri", f"{len(uris)} redirect_uris given; register at most {MAX_REDIRECT_URIS}"
        )
    for index, uri in enumerate(uris):
        if len(uri) > MAX_URI:
            return RegistrationError(
                "invalid_redirect_uri",
                f"redirect_uris[{index}] is {len(uri)} characters long; at most {MAX_URI} are accepted",
            )
    problem = (
        _too_long("client_name", client.client_name, MAX_CLIENT_NAME)
        or _too_long("scope", client.scope, MAX_SCOPE)
        or next((p for name in _URI_FIELDS if (p := _too_long(name, _text(getattr(client, name)), MAX_URI))), None)
        or next((p for name in _SHORT_FIELDS if (p := _too_long(name, getattr(client, name), MAX_SHORT))), None)
        or _list_problem("contacts", client.contacts or [], MAX_CONTACTS, MAX_CONTACT)
        or _list_problem("grant_types", client.grant_types, MAX_LIST, MAX_SHORT)
        or _list_problem("response_types", client.response_types, MAX_LIST, MAX_SHORT)
    )
    if problem is None and client.jwks is not None:
        size = len(json.dumps(client.jwks, separators=(",", ":")).encode())
        if size > MAX_JWKS_BYTES:
            problem = f"jwks is {size} bytes as JSON; at most {MAX_JWKS_BYTES} are accepted"
    return RegistrationError("invalid_client_metadata", problem) if problem else None


def state_problem(state: str | None) -> str | None:
    """Why an /authorize `state` cannot be accepted (it is stored, then echoed in the redirect), or None."""
    if state is None or state == "":
        return None
    if len(state) > MAX_STATE:
        return f"state is {len(state)} characters long; at most {MAX_STATE} are accepted"
    if not _STATE.fullmatch(state):
        return "state must consist of printable ASCII characters only (RFC 6749 appendix A.5)"
    return None


def code_challenge_problem(challenge: str) -> str | None:
    """Why an S256 `code_challenge` is malformed, or None (the only method this server supports)."""
    if _S256_CHALLENGE.fullmatch(challenge):
        return None
    return (
        "code_challenge must be the 43-character base64url SHA-256 of the code verifier, without padding "
        f"(RFC 7636 section 4.2); got {len(challenge)} characters"
        + ("" if len(challenge) != 43 else " outside the base64url alphabet")
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _too_long(name: str, value: str | None, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        return f"{name} is {len(value)} characters long; at most {limit} are accepted"
    return None


def _list_problem(name: str, values: Sequence[str], count: int, each: int) -> str | None:
    if len(values) > count:
        return f"{len(values)} {name} given; at most {count} are accepted"
    for index, value in enumerate(values):
        if len(value) > each:
            return f"{name}[{index}] is {len(value)} characters long; at most {each} are accepted"
    return None


def guard_authorize(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """/authorize with `state` checked first, answered directly (never redirected) when it is unacceptable.

    RFC 6749 section 4.1.2.1 wants errors redirected to the client *with its state*; a state that is itself the
    problem cannot go back (it may be megabytes long), so the user agent gets the error instead. The form is read
    here, where a malformed one is answered as the client's mistake; the SDK's handler would log it with a
    traceback as an unexpected error. Its later `request.form()` gets the same parsed form back.
    """

    async def authorize(request: Request) -> Response:
        try:
            params = request.query_params if request.method == "GET" else await request.form()
        except HTTPException as exc:  # Starlette's rendering of python-multipart's refusal
            return _invalid_request(f"the form could not be read: {exc.detail}")
        state = params.get("state")
        problem = state_problem(state) if isinstance(state, str) else None
        if problem is not None:
            return _invalid_request(problem)
        return await handler(request)

    return authorize


def _invalid_request(description: str) -> Response:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description},
        status_code=400,
        headers={"Cache-Control": "no-store"},
    )
