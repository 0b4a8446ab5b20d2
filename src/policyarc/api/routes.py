"""The admin API's route table, and the one place requests are authenticated, parsed and answered.

Every path under `/api/v1/` needs an admin credential, unknown paths included (a 401 before a 404, so the
API's shape is not open either). Bodies are JSON, validated with the endpoint's pydantic model; errors are
problem details (errors.py). The same table generates the OpenAPI document (openapi.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, RootModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from policyarc import __version__
from policyarc.api import handlers
from policyarc.api.auth import AdminAuthenticator, authenticate
from policyarc.api.endpoints import Endpoint
from policyarc.api.errors import ApiError, render
from policyarc.api.handlers import AdminApi, Call
from policyarc.api.openapi import build_openapi
from policyarc.api.schemas import (
    AuditPage,
    AuditQuery,
    ChangeList,
    ChangesQuery,
    ConnectorCreate,
    ConnectorList,
    EnvironmentCreate,
    EnvironmentList,
    IdpUpdate,
    PolicyPreview,
    PolicyText,
    PolicyVersionList,
    SiteLookup,
    ValidationReport,
)
from policyarc.services import ConnectorView, EnvironmentView, IdpView, PolicyView, ResolvedSite, ServiceError
from policyarc.store.outage import RETRY_AFTER, describe_outage, is_database_unreachable

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 512 * 1024


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


def _endpoints() -> list[Endpoint]:
    env = "/environments/{environment}"
    return [
        Endpoint("GET", "/environments", handlers.list_environments, "listEnvironments", "List environments",
                 "environments", EnvironmentList),
        Endpoint("POST", "/environments", handlers.create_environment, "createEnvironment",
                 "Create an environment (with the default policy)", "environments", EnvironmentView,
                 body=EnvironmentCreate, status=201, errors=(409,)),
        Endpoint("GET", env, handlers.get_environment, "getEnvironment", "Show an environment", "environments",
                 EnvironmentView),
        Endpoint("GET", env + "/idp/{kind}", handlers.get_idp, "getIdp",
                 "Show the identity provider (never its secret)", "identity providers", IdpView),
        Endpoint("PUT", env + "/idp/{kind}", handlers.put_idp, "putIdp", "Set the identity provider",
                 "identity providers", IdpView, body=IdpUpdate),
        Endpoint("GET", env + "/connectors", handlers.list_connectors, "listConnectors", "List connectors",
                 "connectors", ConnectorList),
        Endpoint("POST", env + "/connectors", handlers.add_connector, "addConnector",
                 "Add a Jira (user passthrough) connector", "connectors", ConnectorView, body=ConnectorCreate,
                 status=201, errors=(409, 502)),
        Endpoint("DELETE", env + "/connectors/{connector}", handlers.delete_connector, "deleteConnector",
                 "Remove a connector (by id or slug)", "connectors", ConnectorView),
        Endpoint("POST", "/connectors/resolve-site", handlers.resolve_site, "resolveSite",
                 "Validate an Atlassian site name and look up its cloud ID", "connectors", ResolvedSite,
                 body=SiteLookup, errors=(502,)),
        Endpoint("GET", env + "/policy", handlers.get_policy, "getPolicy", "Show the policy in force", "policy",
                 PolicyView),
        Endpoint("PUT", env + "/policy", handlers.put_policy, "putPolicy",
                 "Save a new policy version (validated first)", "policy", PolicyView, body=PolicyText,
                 errors=(409,)),
        Endpoint("POST", env + "/policy/validate", handlers.validate_policy, "validatePolicy",
                 "Validate policy text without saving it", "policy", ValidationReport, body=PolicyText),
        Endpoint("POST", env + "/policy/preview", handlers.preview_policy, "previewPolicy",
                 "Whose access a draft would widen or narrow (nothing is saved)", "policy", PolicyPreview,
                 body=PolicyText),
        Endpoint("GET", env + "/policy/versions", handlers.list_policy_versions, "listPolicyVersions",
                 "The policy's versions, newest first, with who saved each", "policy", PolicyVersionList),
        Endpoint("GET", env + "/policy/versions/{version}", handlers.get_policy_version, "getPolicyVersion",
                 "One version of the policy", "policy", PolicyView, errors=(400,)),
        Endpoint("GET", env + "/audit", handlers.audit_tail, "tailAudit", "Read recent audit records", "audit",
                 AuditPage, query=AuditQuery),
        Endpoint("GET", "/changes", handlers.list_changes, "listChanges", "Read the admin change log", "audit",
                 ChangeList, query=ChangesQuery),
    ]  # fmt: skip


def create_api_routes(
    api: AdminApi, *, authenticators: Sequence[AdminAuthenticator], version: str = __version__
) -> list[BaseRoute]:
    """The admin API's routes, to include in the app's route list as they are (paths start with /api/v1).

    `authenticators` decide who is calling (at least `ApiKeyAuthenticator`); `api.listeners` hear about each
    committed change (the policy watcher, the connector directory).
    """
    if not authenticators:
        raise ValueError("the admin API needs at least one authenticator; it is never open")
    endpoints = _endpoints()
    document = OpenApiDocument({})

    async def serve_openapi(_: AdminApi, __: Call) -> OpenApiDocument:
        # Built on first request, not at start: the JSON schemas of every model were ~35 ms of each start.
        if not document.root:
            document.root.update(build_openapi(endpoints, prefix=PREFIX, version=version))
        return document

    endpoints.append(
        Endpoint("GET", "/openapi.json", serve_openapi, "getOpenApi", "This API's OpenAPI 3.1 document", "meta",
                 OpenApiDocument)
    )  # fmt: skip
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    routes: list[BaseRoute] = [
        Route(PREFIX + path, _PathApp(api, methods, authenticators)) for path, methods in by_path.items()
    ]
    routes.append(Route(PREFIX + "/{rest:path}", _PathApp(api, {}, authenticators)))
    return routes


def endpoint_table() -> list[tuple[str, str]]:
    """(method, path) of every endpoint, for tests and docs."""
    return [(e.method, PREFIX + e.path) for e in _endpoints()] + [("GET", PREFIX + "/openapi.json")]


_DATABASE_UNAVAILABLE = ApiError(
    503,
    "database_unavailable",
    f"PolicyArc cannot reach its database right now. Retry in {RETRY_AFTER} s.",
    headers={"Retry-After": str(RETRY_AFTER)},
)


class _PathApp:
    """All methods of one path: authenticate, pick the endpoint, parse, run, render."""

    def __init__(
        self, api: AdminApi, methods: dict[str, Endpoint], authenticators: Sequence[AdminAuthenticator]
    ) -> None:
        self._api = api
        self._methods = methods
        self._authenticators = authenticators

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._handle(request)
        except (ApiError, ServiceError) as exc:
            response = render(exc)
        except Exception as exc:
            if is_database_unreachable(exc):  # an outage to wait out, not a bug: one line, no traceback
                logger.warning(
                    "admin API %s %s: database unreachable (%s)", request.method, request.url.path, describe_outage(exc)
                )
                response = render(_DATABASE_UNAVAILABLE)
            else:
                logger.exception("admin API %s %s failed", request.method, request.url.path)
                response = render(ApiError(500, "internal_error", "Something went wrong on the server; see its log."))
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        identity = await authenticate(request, self._authenticators)
        if not self._methods:
            raise ApiError(404, "not_found", "There is no such admin API path; see /api/v1/openapi.json.")
        endpoint = self._methods.get(request.method)
        if endpoint is None:
            allowed = ", ".join(sorted(self._methods))
            raise ApiError(405, "method_not_allowed", f"Use {allowed} here.", headers={"Allow": allowed})
        body = await _parse_body(request, endpoint.body) if endpoint.body is not None else None
        query = _parse_query(request, endpoint.query) if endpoint.query is not None else None
        path = {key: str(value) for key, value in request.path_params.items()}
        result = await endpoint.handler(self._api, Call(identity=identity, path=path, body=body, query=query))
        return Response(result.model_dump_json(), status_code=endpoint.status, media_type="application/json")


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(400, "unsupported_media_type", "Send the body as application/json.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "body_too_large", f"The body is larger than {MAX_BODY // 1024} KiB.")
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    return _validate(model, data)


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise ApiError(400, "invalid_request", f"Give the query parameter {key[:40]} once.")
        params[key] = value
    return _validate(model, params)


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        raise ApiError(
            400, "invalid_request", "The request does not match the expected shape.", errors=problems
        ) from None
