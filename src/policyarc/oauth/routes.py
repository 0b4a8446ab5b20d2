"""`create_oauth_routes()`: everything the gateway serves as an OAuth authorization server, in one list.

- RFC 9728 protected-resource metadata for `{public_url}/mcp` (the default environment) and for every other
  environment's `{public_url}/mcp/NAME`, at `/.well-known/oauth-protected-resource/mcp/NAME`;
- RFC 8414 authorization-server metadata (ours: it adds `client_id_metadata_document_supported` and `none` as a
  token endpoint auth method, for metadata-document clients, and keeps the issuer exactly `public_url`);
- the SDK's /register handler as it is; its /authorize handler binding the pending request to the browser
  (browser_binding.py); its /token handler with `HashedSecretAuthenticator` (client secrets are stored hashed,
  see client_auth.py) behind an RFC 8707 `resource` check (token_endpoint.py); our own /revoke (revocation.py),
  since the SDK's refuses public clients;
- sign-in through Atlassian (federation.py) and the consent page (consent.py).

Every endpoint that reads a body has a ceiling on it (body_limit.py); /register, /authorize and /oauth/login,
which store rows for anyone, are rate-limited per client address (throttle.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp

from policyarc.environments import EnvironmentDirectory
from policyarc.oauth.body_limit import FORM_LIMIT, REGISTRATION_LIMIT, BodyLimit
from policyarc.oauth.bounds import guard_authorize
from policyarc.oauth.browser_binding import BrowserBoundAuthorization
from policyarc.oauth.client_auth import HashedSecretAuthenticator
from policyarc.oauth.config import OAuthConfig
from policyarc.oauth.consent import ConsentPages
from policyarc.oauth.federation import Federation
from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.oauth.revocation import RevocationEndpoint
from policyarc.oauth.sessions import CookieJar
from policyarc.oauth.throttle import OAuthLimiters, RateLimiter, Throttle
from policyarc.oauth.token_endpoint import ResourceCheckedTokenHandler

__all__ = [
    "authorization_server_metadata",
    "create_oauth_routes",
    "protected_resource_metadata",
    "resource_metadata_url",
]

Handler = Callable[[Request], Awaitable[Response]]


def create_oauth_routes(
    *,
    provider: GatewayAuthProvider,
    federation: Federation,
    consent: ConsentPages,
    limiters: OAuthLimiters | None = None,
) -> list[BaseRoute]:
    config = provider.config
    limiters = limiters or OAuthLimiters.in_process(config)
    authenticator = HashedSecretAuthenticator(provider)
    registration = ClientRegistrationOptions(
        enabled=True, valid_scopes=list(config.scopes), default_scopes=list(config.default_scopes)
    )
    authorize = guard_authorize(BrowserBoundAuthorization(provider, CookieJar(secure=config.secure_cookies)).handle)
    metadata = authorization_server_metadata(config)
    resource = protected_resource_metadata(config)
    routes: list[BaseRoute] = [
        Route(
            "/.well-known/oauth-authorization-server",
            _public(request_response(MetadataHandler(metadata).handle), ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        Route(
            _path(resource_metadata_url(config)),
            _public(request_response(ProtectedResourceMetadataHandler(resource).handle), ["GET", "OPTIONS"]),
            methods=["GET", "OPTIONS"],
        ),
        Route(
            _path(resource_metadata_url(config)) + "/{name}",
            _public(
                request_response(EnvironmentResourceMetadata(config, provider.environments).handle), ["GET", "OPTIONS"]
            ),
            methods=["GET", "OPTIONS"],
        ),
        # No CORS on /authorize: a browser navigates there, scripts have no business calling it.
        Route(
            "/authorize",
            _throttled(BodyLimit(request_response(authorize), FORM_LIMIT), limiters.authorize, "/authorize"),
            methods=["GET", "POST"],
        ),
        _client_endpoint(
            "/token",
            ResourceCheckedTokenHandler(
                TokenHandler(provider, authenticator).handle,  # type: ignore[arg-type]
                config,
                provider.environments,
            ).handle,
        ),
        _client_endpoint(
            "/register",
            RegistrationHandler(provider, options=registration).handle,  # type: ignore[arg-type]
            limit=REGISTRATION_LIMIT,
            limiter=limiters.register,
        ),
        _client_endpoint("/revoke", RevocationEndpoint(provider, authenticator).handle),
    ]
    # The browser pages: every form bounded, and a sign-in start (one row each) rate-limited like /authorize.
    pages = [
        Route(
            route.path,
            _throttled(BodyLimit(route.app, FORM_LIMIT), limiters.login if route.path == "/oauth/login" else None),
            methods=sorted(route.methods or ()),
        )
        for route in [*federation.routes(), *consent.routes()]
    ]
    return [*routes, *pages]


def authorization_server_metadata(config: OAuthConfig) -> OAuthMetadata:
    issuer = config.issuer
    return OAuthMetadata.model_validate(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register",
            "revocation_endpoint": f"{issuer}/revoke",
            "scopes_supported": list(config.scopes),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": True,
        }
    )


class EnvironmentResourceMetadata:
    """RFC 9728 metadata of another environment's MCP endpoint, `{issuer}/mcp/NAME`: same server, its own resource."""

    def __init__(self, config: OAuthConfig, environments: EnvironmentDirectory) -> None:
        self._config = config
        self._environments = environments

    async def handle(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        environment = await self._environments.find_name(name) if len(name) <= 64 else None
        if environment is None or environment.is_default:  # the default one is served at .../mcp
            return JSONResponse(
                {"error": "not_found", "error_description": "this gateway has no MCP endpoint at that path"},
                status_code=404,
            )
        metadata = protected_resource_metadata(self._config, resource=environment.resource)
        return await ProtectedResourceMetadataHandler(metadata).handle(request)


def protected_resource_metadata(config: OAuthConfig, *, resource: str | None = None) -> ProtectedResourceMetadata:
    return ProtectedResourceMetadata.model_validate(
        {
            "resource": resource or config.resource_url,
            "authorization_servers": [config.issuer],
            "scopes_supported": list(config.scopes),
            "resource_name": "PolicyArc",
        }
    )


def resource_metadata_url(config: OAuthConfig) -> str:
    """RFC 9728 section 3.1: the well-known segment goes between the host and the resource's path."""
    return f"{config.issuer}/.well-known/oauth-protected-resource/mcp"


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _client_endpoint(
    path: str, handler: Handler, *, limit: int = FORM_LIMIT, limiter: RateLimiter | None = None
) -> Route:
    app = _throttled(BodyLimit(request_response(handler), limit), limiter, path)
    return Route(path, _public(app, ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"])


def _throttled(app: ASGIApp, limiter: RateLimiter | None, endpoint: str = "sign-in") -> ASGIApp:
    # Outside the body limit: a refused request costs no body read.
    return app if limiter is None else Throttle(app, limiter, endpoint=endpoint)


def _public(app: ASGIApp, methods: list[str]) -> ASGIApp:
    # Browser-based MCP clients (the MCP Inspector) call these cross-origin; CORS is outermost so that even a
    # 413 from the body limit or a 429 carries its headers.
    return CORSMiddleware(app, allow_origins=["*"], allow_methods=methods, allow_headers=[MCP_PROTOCOL_VERSION_HEADER])
