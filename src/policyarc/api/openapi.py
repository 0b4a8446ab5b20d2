"""The OpenAPI 3.1 document, generated from the route table and the pydantic models it names.

Nothing here is written by hand per route: paths, parameters, bodies and responses all come from
`Endpoint` entries, and schemas from `models_json_schema`, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from policyarc.api.endpoints import Endpoint
from policyarc.api.errors import PROBLEM_MEDIA_TYPE, Problem

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([a-z_]+)}")
_ERROR_TEXT = {
    400: "The input was refused; `errors` lists each problem.",
    401: "No admin credential, or one that is not valid.",
    404: "No such environment or object.",
    405: "The path does not take this method.",
    409: "The change collides with what is stored.",
    413: "The request body is too large.",
    502: "An upstream service (Atlassian) did not answer usefully.",
}


def build_openapi(endpoints: Sequence[Endpoint], *, prefix: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `endpoints` mounted under `prefix`."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.response is not None:
            models.append((endpoint.response, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": endpoint.operation_id,
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "security": [{"adminKey": []}],
            "parameters": _parameters(endpoint),
            "responses": _responses(endpoint, refs),
        }
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
            }
        paths.setdefault(prefix + endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "PolicyArc admin API",
            "version": version,
            "description": "Everything the PolicyArc CLI does. Every call needs an admin API key "
            "(`policyarc admin create-key NAME`) as `Authorization: Bearer pa_admin_...`; every change is "
            "recorded with the key's name. Errors are RFC 9457 problem details.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "An admin API key, pa_admin_..."}
            },
        },
        "security": [{"adminKey": []}],
    }


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    return parameters


def _responses(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.response is not None:
        success["content"] = {"application/json": {"schema": refs[(endpoint.response, "serialization")]}}
    responses[str(endpoint.status)] = success
    problem = {PROBLEM_MEDIA_TYPE: {"schema": refs[(Problem, "serialization")]}}
    for status in sorted({401, *endpoint.error_statuses}):
        responses[str(status)] = {"description": _ERROR_TEXT[status], "content": problem}
    return responses
